package zkpaths

import (
	"reflect"
	"testing"
)

func TestParseConnect(t *testing.T) {
	tests := []struct {
		in      string
		servers []string
		chroot  string
	}{
		{"h1:2181,h2:2182,h3:2183", []string{"h1:2181", "h2:2182", "h3:2183"}, ""},
		{"h1:2181, h2:2182/kzoo", []string{"h1:2181", "h2:2182"}, "/kzoo"},
		{"h1/a/b", []string{"h1"}, "/a/b"},
		{"h1:2181/", []string{"h1:2181"}, ""},
	}
	for _, tt := range tests {
		servers, chroot, err := ParseConnect(tt.in)
		if err != nil || !reflect.DeepEqual(servers, tt.servers) || chroot != tt.chroot {
			t.Errorf("ParseConnect(%q) = %v, %q, %v", tt.in, servers, chroot, err)
		}
	}
	for _, bad := range []string{"", "/kzoo", "h1,,h2", "h1/kzoo/", "h1//kzoo", "h1/a/../b"} {
		if servers, chroot, err := ParseConnect(bad); err == nil {
			t.Errorf("ParseConnect(%q) = %v, %q; want an error", bad, servers, chroot)
		}
	}
}
