package main

import (
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// newTable returns a writer that lines up tab-separated cells in columns
// two spaces apart, as every table the CLI prints. Flush it at the end of
// the table.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// joinIDs prints broker ids as Kafka's tools do: "1,2,3".
func joinIDs(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

// orDash prints an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
