package main

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

func parseQuotaFlags(t *testing.T, args ...string) *quotaEntityFlags {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := addQuotaEntityFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestQuotaEntityFlags(t *testing.T) {
	d := zkpaths.DefaultConfigEntity
	for _, tc := range []struct {
		args []string
		want zkpaths.QuotaEntity
		err  string
	}{
		{nil, zkpaths.QuotaEntity{}, ""},
		{[]string{"--user", "alice"}, zkpaths.QuotaEntity{User: "alice"}, ""},
		{[]string{"--client-id", "app 1"}, zkpaths.QuotaEntity{ClientID: "app 1"}, ""},
		{[]string{"--user-defaults", "--client-id", "c"}, zkpaths.QuotaEntity{User: d, ClientID: "c"}, ""},
		{[]string{"--user", "u", "--client-defaults"}, zkpaths.QuotaEntity{User: "u", ClientID: d}, ""},
		{[]string{"--user", "u", "--user-defaults"}, zkpaths.QuotaEntity{}, "give --user or --user-defaults, not both"},
		{[]string{"--client-id", "c", "--client-defaults"}, zkpaths.QuotaEntity{}, "give --client-id or --client-defaults, not both"},
		{[]string{"--user", ""}, zkpaths.QuotaEntity{}, "--user: an empty name"},
		{[]string{"--client-id", "<default>"}, zkpaths.QuotaEntity{}, "give --client-defaults"},
	} {
		got, err := parseQuotaFlags(t, tc.args...).entity()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %#v, %v; want %#v", tc.args, got, err, tc.want)
		}
	}
}

func TestParseQuotaAlter(t *testing.T) {
	entity, ops, err := parseQuotaAlter(parseQuotaFlags(t, "--user", "alice"), "producer_byte_rate=1048576, request_percentage=12.5", "consumer_byte_rate")
	if err != nil {
		t.Fatal(err)
	}
	want := []quotaOp{
		{Key: "producer_byte_rate", Value: 1048576},
		{Key: "request_percentage", Value: 12.5},
		{Key: "consumer_byte_rate", Remove: true},
	}
	if entity != (zkpaths.QuotaEntity{User: "alice"}) || !slices.Equal(ops, want) {
		t.Errorf("got %v %+v, want user alice and %+v", entity, ops, want)
	}
	for _, tc := range []struct {
		flags         []string
		adds, deletes string
		want          string
	}{
		{nil, "producer_byte_rate=1", "", "give the entity"},
		{[]string{"--user", "u", "--user-defaults"}, "producer_byte_rate=1", "", "not both"},
		{[]string{"--user", "u"}, "", "", "give --add-config or --delete-config"},
		{[]string{"--user", "u"}, "producer_byte_rate=fast", "", "producer_byte_rate=fast: the value is not a number"},
		{[]string{"--user", "u"}, "producer_byte_rate=NaN", "", "not a number"},
		{[]string{"--user", "u"}, "producer_byte_rate", "", "not key=value"},
		{[]string{"--user", "u"}, "producer_byte_rate=1", "producer_byte_rate", "given more than once"},
	} {
		if _, _, err := parseQuotaAlter(parseQuotaFlags(t, tc.flags...), tc.adds, tc.deletes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q %q: error %v, want one containing %q", tc.flags, tc.adds, tc.deletes, err, tc.want)
		}
	}
}

func TestWriteQuotaTable(t *testing.T) {
	var empty strings.Builder
	if err := writeQuotaTable(&empty, nil); err != nil || empty.String() != "No client quotas.\n" {
		t.Errorf("no quotas printed as %q, %v", empty.String(), err)
	}
	var out strings.Builder
	err := writeQuotaTable(&out, []entityQuotas{
		{Entity: zkpaths.QuotaEntity{User: "alice"}, Values: map[string]float64{"request_percentage": 12.5, "producer_byte_rate": 1048576}},
		{Entity: zkpaths.QuotaEntity{ClientID: zkpaths.DefaultConfigEntity}, Values: map[string]float64{"consumer_byte_rate": 2048}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{
		{"USER", "CLIENT-ID", "QUOTA", "VALUE"},
		{"alice", "-", "producer_byte_rate", "1048576"},
		{"alice", "-", "request_percentage", "12.5"},
		{"-", "<default>", "consumer_byte_rate", "2048"},
	} {
		if got := strings.Fields(lineWith(out.String(), want[2])); !slices.Equal(got, want) {
			t.Errorf("line %v printed as %v:\n%s", want, got, out.String())
		}
	}
}
