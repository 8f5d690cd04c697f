package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The client pump decodes Parse, Bind and Execute itself, into the same
// structs pgproto3 uses, accepting and refusing exactly what pgproto3's
// Decode does (FuzzDecodeMatchesPgproto3), but reusing the slices of the
// message before: pgproto3 allocates up to five times per message, these
// only for Parse's statement text and names that are not empty.

var (
	errNoTerminator = errors.New("a string is not NUL-terminated")
	errTruncated    = errors.New("the message ends early")
)

// cstring splits a NUL-terminated string off the front of src.
func cstring(src []byte) (s, rest []byte, err error) {
	i := bytes.IndexByte(src, 0)
	if i < 0 {
		return nil, nil, errNoTerminator
	}
	return src[:i], src[i+1:], nil
}

// decodeParse decodes a Parse body into dst, reusing dst's parameter OIDs.
func decodeParse(dst *pgproto3.Parse, src []byte) error {
	oids := dst.ParameterOIDs[:0]
	*dst = pgproto3.Parse{}
	name, src, err := cstring(src)
	if err != nil {
		return err
	}
	query, src, err := cstring(src)
	if err != nil {
		return err
	}
	if len(src) < 2 {
		return errTruncated
	}
	n := int(binary.BigEndian.Uint16(src))
	src = src[2:]
	if len(src) < 4*n {
		return errTruncated
	}
	for i := range n {
		oids = append(oids, binary.BigEndian.Uint32(src[4*i:]))
	}
	dst.Name, dst.Query, dst.ParameterOIDs = string(name), string(query), oids
	return nil
}

// decodeBind decodes a Bind body into dst, reusing dst's slices. As with
// pgproto3, the parameter values point into src.
func decodeBind(dst *pgproto3.Bind, src []byte) error {
	pfc, params, rfc := dst.ParameterFormatCodes[:0], dst.Parameters[:0], dst.ResultFormatCodes[:0]
	*dst = pgproto3.Bind{}
	portal, src, err := cstring(src)
	if err != nil {
		return err
	}
	stmt, src, err := cstring(src)
	if err != nil {
		return err
	}
	if pfc, src, err = int16s(pfc, src); err != nil {
		return err
	}
	if len(src) < 2 {
		return errTruncated
	}
	n := int(binary.BigEndian.Uint16(src))
	src = src[2:]
	for range n {
		if len(src) < 4 {
			return errTruncated
		}
		size := int(int32(binary.BigEndian.Uint32(src)))
		src = src[4:]
		if size == -1 {
			params = append(params, nil) // NULL
			continue
		}
		if size < 0 || len(src) < size {
			return errTruncated
		}
		params = append(params, src[:size:size])
		src = src[size:]
	}
	if rfc, _, err = int16s(rfc, src); err != nil {
		return err
	}
	dst.DestinationPortal, dst.PreparedStatement = string(portal), string(stmt)
	dst.ParameterFormatCodes, dst.Parameters, dst.ResultFormatCodes = pfc, params, rfc
	return nil
}

// int16s reads a count and that many int16s, appending them to dst.
func int16s(dst []int16, src []byte) ([]int16, []byte, error) {
	if len(src) < 2 {
		return dst, nil, errTruncated
	}
	n := int(binary.BigEndian.Uint16(src))
	src = src[2:]
	if len(src) < 2*n {
		return dst, nil, errTruncated
	}
	for i := range n {
		dst = append(dst, int16(binary.BigEndian.Uint16(src[2*i:])))
	}
	return dst, src[2*n:], nil
}

// decodeExecute decodes an Execute body into dst.
func decodeExecute(dst *pgproto3.Execute, src []byte) error {
	portal, src, err := cstring(src)
	if err != nil {
		return err
	}
	if len(src) < 4 {
		return errTruncated
	}
	dst.Portal, dst.MaxRows = string(portal), binary.BigEndian.Uint32(src)
	return nil
}
