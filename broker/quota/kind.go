package quota

// Kind is what a quota limits; each kind has its own client quota key and
// its own rates.
type Kind int8

const (
	Produce            Kind = iota // bytes appended: producer_byte_rate
	Fetch                          // bytes returned: consumer_byte_rate
	Request                        // handler time: request_percentage
	ControllerMutation             // partitions created or deleted: controller_mutation_rate
	numKinds
)

var kindNames = [numKinds]string{"produce", "fetch", "request", "controller_mutation"}

var kindKeys = [numKinds]string{ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate}

// String is the kind's lower-case name, as in metric labels: produce, fetch,
// request or controller_mutation.
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "unknown"
}

// Key is the client quota key that bounds k.
func (k Kind) Key() string {
	if k.valid() {
		return kindKeys[k]
	}
	return ""
}

func (k Kind) valid() bool { return k >= 0 && k < numKinds }

// kindOfKey is the kind a client quota key bounds.
func kindOfKey(key string) (Kind, bool) {
	for k, name := range kindKeys {
		if name == key {
			return Kind(k), true
		}
	}
	return 0, false
}

// Identity is who sent a request: the principal's name (ANONYMOUS until
// authentication) and client id.
type Identity struct{ User, ClientID string }
