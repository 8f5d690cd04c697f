package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "ctl\x01\n\t", "<a&b>", "é漢字", "\u2028\u2029", "bad\xffutf8"} {
		for _, html := range []bool{false, true} {
			out := Append(nil, s, html)
			var back string
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("%q (html %v): %s is not JSON: %v", s, html, out, err)
			}
			want, _ := json.Marshal(s) // encoding/json replaces invalid UTF-8 the same way
			var wantBack string
			json.Unmarshal(want, &wantBack)
			if back != wantBack {
				t.Errorf("%q (html %v): decodes to %q, want %q", s, html, back, wantBack)
			}
			if !html && string(Append(nil, back, false)) != string(out) {
				t.Errorf("%q: re-encoding is not stable", s)
			}
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"b", true)
	f.Add("\xff\u2028", false)
	f.Fuzz(func(t *testing.T, s string, html bool) {
		var back string
		if err := json.Unmarshal(Append(nil, s, html), &back); err != nil {
			t.Fatal(err)
		}
	})
}
