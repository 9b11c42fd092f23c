package main

// How the CLI says what went wrong. A Kafka error reaches kzoo in two
// shapes: a code and the broker's message from a response (codeError), or
// a *kerr.Error from franz-go's clients. Printed as they come, they say the
// problem twice; a broker that starts its message with the code's own text
// makes it worse. Here each is said once, in words, with the code's name
// once at the end:
//
//	kzoo: topic "demo" already exists (TOPIC_ALREADY_EXISTS)
//	kzoo: delete topic x: this server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
)

// kafkaError is a Kafka error code with the words that explain it: the
// broker's message, the CLI's own words, or else the code's description.
// errors.Is matches the code's kerr error.
type kafkaError struct {
	code  *kerr.Error
	words string
}

func (e *kafkaError) Error() string { return e.words + " (" + e.code.Message + ")" }
func (e *kafkaError) Unwrap() error { return e.code }

// newKafkaError returns code explained by message, which may repeat the
// code's own text (brokers often start with it; kzoo's did) and may be
// empty.
func newKafkaError(code *kerr.Error, message string) *kafkaError {
	words := strings.TrimSpace(message)
	for _, repeat := range []string{code.Error(), code.Message, code.Description} {
		for {
			rest, ok := strings.CutPrefix(words, repeat)
			if !ok {
				break
			}
			words = strings.TrimLeft(rest, ":. ")
		}
	}
	if words == "" {
		words = sentenceFragment(code.Description)
	}
	return &kafkaError{code: code, words: words}
}

// sentenceFragment turns a description written as a sentence ("The group
// is not empty.") into words that may follow a colon.
func sentenceFragment(s string) string {
	s = strings.TrimSuffix(s, ".")
	first, size := utf8.DecodeRuneInString(s)
	second, _ := utf8.DecodeRuneInString(s[size:])
	if unicode.IsUpper(first) && !unicode.IsUpper(second) { // not an acronym
		s = string(unicode.ToLower(first)) + s[size:]
	}
	return s
}

// codeError is the error for a Kafka error code and the broker's optional
// message; nil for code 0.
func codeError(code int16, message *string) error {
	if code == 0 {
		return nil
	}
	ke := kerr.TypedErrorForCode(code)
	if ke == nil {
		ke = kerr.UnknownServerError
	}
	var msg string
	if message != nil {
		msg = *message
	}
	return newKafkaError(ke, msg)
}

// explained is err said in the CLI's own words: if err is a Kafka error,
// the words replace its description and the broker's message; otherwise
// err follows them.
func explained(err error, format string, args ...any) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return &kafkaError{code: ke, words: fmt.Sprintf(format, args...)}
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// formatError is the text the CLI prints for err: its own, with every Kafka
// error in it said as a kafkaError says it. Errors made by errors.Join
// give one line each.
func formatError(err error) string {
	switch e := err.(type) {
	case *kafkaError:
		return e.Error()
	case *kerr.Error:
		return newKafkaError(e, "").Error()
	case interface{ Unwrap() []error }:
		lines := make([]string, 0, len(e.Unwrap()))
		for _, inner := range e.Unwrap() {
			lines = append(lines, formatError(inner))
		}
		return strings.Join(lines, "\n")
	}
	inner := errors.Unwrap(err)
	if inner == nil {
		return err.Error()
	}
	text := err.Error()
	// A wrapper that adds context before the error it wraps: keep the
	// context, format the rest.
	if context, ok := strings.CutSuffix(text, inner.Error()); ok {
		return context + formatError(inner)
	}
	return text
}
