// Package configvalue parses config values the way Kafka's ConfigDef does,
// for the rules that more than one package must apply alike: booleans, read
// by broker/config and coordinator, and lists, read by broker/config and the
// kzoo CLI.
//
// A topic's unclean.leader.election.enable is read by broker/config (which
// validates and resolves configs for the broker) and by coordinator (whose
// controller reads topic overrides and dynamic broker configs straight from
// ZooKeeper, where any tool may have written them). If the two parsed it
// differently, a partition's leader and the controller could disagree on
// whether an unclean election is allowed. This package is a leaf, so that
// coordinator can share the rule without importing anything under broker/,
// and broker/config without depending on the ZooKeeper layout in zkpaths.
package configvalue

import (
	"fmt"
	"strings"
)

// ParseBool reads a boolean as Kafka's ConfigDef reads a BOOLEAN: "true" or
// "false" in any case, once surrounding white space is trimmed. Anything
// else, "1" and "yes" included, is an error.
func ParseBool(value string) (bool, error) {
	trimmed := strings.TrimSpace(value)
	switch {
	case strings.EqualFold(trimmed, "true"):
		return true, nil
	case strings.EqualFold(trimmed, "false"):
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", value)
}

// SplitList reads a list as Kafka's ConfigDef reads a LIST: comma-separated
// items with surrounding white space trimmed. Empty items are dropped, so
// that "" is the empty list and a trailing comma is harmless.
func SplitList(value string) []string {
	var out []string
	for _, item := range strings.Split(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
