package configvalue

import "testing"

func TestParseBool(t *testing.T) {
	for value, want := range map[string]bool{
		"true": true, "TRUE": true, "True": true, "tRuE": true, " true\t": true, "\ntrue\r\n": true,
		"false": false, "FALSE": false, "False": false, " fAlSe ": false,
	} {
		got, err := ParseBool(value)
		if err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", value, got, err, want)
		}
	}
	for _, value := range []string{"", " ", "1", "0", "t", "f", "T", "F", "yes", "no", "on", "truee", "tru e", "\x00true"} {
		if got, err := ParseBool(value); err == nil {
			t.Errorf("ParseBool(%q) = %v, want an error", value, got)
		}
	}
}
