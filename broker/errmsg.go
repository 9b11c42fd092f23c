package broker

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errorMessage is the ErrorMessage a response gives for err: err's text
// without the text of the Kafka error it wraps ("TOPIC_ALREADY_EXISTS: Topic
// with this name already exists."), which the response's error code already
// says; clients print both, and would say it twice. Errors are made as
// fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, name),
// so what is left is the explanation: `topic "demo" already exists`. An
// error that is nothing but its Kafka error is explained by that error's
// description, as Kafka's own default messages are.
func errorMessage(err error) string {
	text := err.Error()
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return text
	}
	if text == ke.Error() {
		return ke.Description
	}
	if rest, ok := strings.CutPrefix(text, ke.Error()+": "); ok {
		return rest
	}
	// Context before the Kafka error ("partition 3: NOT_LEADER...: ..."):
	// keep it, drop only the code's text.
	if i := strings.Index(text, ": "+ke.Error()); i >= 0 {
		rest := text[i+len(": "+ke.Error()):]
		if rest == "" {
			return text[:i] + ": " + ke.Description
		}
		return text[:i] + rest
	}
	return text
}
