package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sandgate/sandgate/policy"
)

// passwdCmd reads a password from standard input (never from a flag, which
// would sit in shell history and ps output) and prints its verifier.
func passwdCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iter := fs.Int("iterations", policy.DefaultIterations, "PBKDF2 iterations")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error(), try: "echo -n 'password' | sandgate passwd"}
	}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(stderr, "Password (input is echoed; pipe it in to avoid that): ")
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 12 {
		return &usageError{msg: "the password must be at least 12 characters", try: "choose a longer password"}
	}
	v, err := policy.NewVerifier(pw, *iter)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, v.String())
	return nil
}
