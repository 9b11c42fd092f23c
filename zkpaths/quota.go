package zkpaths

import (
	"cmp"
	"fmt"
	"strings"
)

// Client quota entities (KIP-55) live where Kafka keeps them:
// /config/users/<u>, /config/users/<u>/clients/<c> and /config/clients/<c>,
// each holding a ConfigEntity, with <default> standing for "any user" or
// "any client id". User and client-id names are sanitized into znode names
// (Sanitize), so that any principal or client id, slashes included, is one
// znode name.

// QuotaEntity names a client quota entity. User and ClientID are unsanitized
// names, or DefaultConfigEntity ("<default>"); "" means the entity has no
// such part. At least one part is set.
//
// A user or client literally named "<default>" cannot be told from the
// default here; Kafka stores it as %3Cdefault%3E, which ParseQuotaEntityPath
// refuses.
type QuotaEntity struct {
	User, ClientID string
}

// Compare orders entities by user, then by client id, for
// slices.SortFunc(entities, QuotaEntity.Compare).
func (e QuotaEntity) Compare(other QuotaEntity) int {
	return cmp.Or(strings.Compare(e.User, other.User), strings.Compare(e.ClientID, other.ClientID))
}

// String names the entity as people read it, e.g. "user=alice,
// client-id=<default>".
func (e QuotaEntity) String() string {
	var parts []string
	if e.User != "" {
		parts = append(parts, "user="+e.User)
	}
	if e.ClientID != "" {
		parts = append(parts, "client-id="+e.ClientID)
	}
	if len(parts) == 0 {
		return "(no entity)"
	}
	return strings.Join(parts, ", ")
}

// Validate checks that the entity names something: a user, a client id, or
// both.
func (e QuotaEntity) Validate() error {
	if e.User == "" && e.ClientID == "" {
		return fmt.Errorf("invalid quota entity: neither a user nor a client id")
	}
	return nil
}

// QuotaEntityPath holds the configuration of a client quota entity:
// /config/users/<u>[/clients/<c>] or /config/clients/<c>, with sanitized
// names. It is "" for an entity that does not Validate.
func QuotaEntityPath(e QuotaEntity) string {
	p := quotaEntityPath(e)
	if p == "" {
		return ""
	}
	return ConfigPath + "/" + p
}

// QuotaUserClientsPath is the data-less parent of a user's (user, client-id)
// entities, /config/users/<u>/clients. Kafka creates it, and
// /config/users/<u> above it, without data when it first writes a (user,
// client-id) entity.
func QuotaUserClientsPath(user string) string {
	return ConfigEntityPath(ConfigTypeUser, sanitizeQuotaName(user)) + "/" + ConfigTypeClient
}

// NewQuotaConfigChangeNotification names a client quota entity in a config
// change notification, as Kafka does: entity_path "users/<u>",
// "users/<u>/clients/<c>" or "clients/<c>", sanitized.
func NewQuotaConfigChangeNotification(e QuotaEntity) ConfigChangeNotification {
	return ConfigChangeNotification{EntityPath: quotaEntityPath(e)}
}

// quotaEntityPath is the path of an entity below /config, which is also the
// entity_path of its change notifications.
func quotaEntityPath(e QuotaEntity) string {
	switch {
	case e.User != "" && e.ClientID != "":
		return ConfigTypeUser + "/" + sanitizeQuotaName(e.User) + "/" + ConfigTypeClient + "/" + sanitizeQuotaName(e.ClientID)
	case e.User != "":
		return ConfigTypeUser + "/" + sanitizeQuotaName(e.User)
	case e.ClientID != "":
		return ConfigTypeClient + "/" + sanitizeQuotaName(e.ClientID)
	default:
		return ""
	}
}

// ParseQuotaEntityPath parses the path of a client quota entity below
// /config, which is also the entity_path of its config change notifications:
// "users/<u>", "users/<u>/clients/<c>" or "clients/<c>", with sanitized
// names or <default>. ok is false for anything else, including names that
// are not in the canonical form Sanitize gives (so that each entity has one
// znode) and names that decode to "<default>".
func ParseQuotaEntityPath(entityPath string) (e QuotaEntity, ok bool) {
	parts := strings.Split(entityPath, "/")
	switch {
	case len(parts) == 2 && parts[0] == ConfigTypeUser:
		e.User, ok = desanitizeQuotaName(parts[1])
	case len(parts) == 4 && parts[0] == ConfigTypeUser && parts[2] == ConfigTypeClient:
		var userOK, clientOK bool
		e.User, userOK = desanitizeQuotaName(parts[1])
		e.ClientID, clientOK = desanitizeQuotaName(parts[3])
		ok = userOK && clientOK
	case len(parts) == 2 && parts[0] == ConfigTypeClient:
		e.ClientID, ok = desanitizeQuotaName(parts[1])
	}
	if !ok {
		return QuotaEntity{}, false
	}
	return e, true
}

// sanitizeQuotaName is the znode name of a user or client id: <default> as
// it is, any other name sanitized.
func sanitizeQuotaName(name string) string {
	if name == DefaultConfigEntity {
		return name
	}
	return Sanitize(name)
}

// desanitizeQuotaName reverses sanitizeQuotaName for canonical znode names.
func desanitizeQuotaName(znodeName string) (string, bool) {
	if znodeName == DefaultConfigEntity {
		return znodeName, true
	}
	name, err := Desanitize(znodeName)
	if err != nil || name == "" || name == DefaultConfigEntity || Sanitize(name) != znodeName {
		return "", false
	}
	return name, true
}

// Sanitize makes a user principal or client id safe as a znode name (and a
// metric name), as Kafka's Sanitizer does: URL encoding of the UTF-8 bytes
// as Java's URLEncoder does it (letters, digits, '.', '-' and '_' stay, every
// other byte becomes %XX in upper-case hex), except that '*' is encoded too
// and a space becomes %20 rather than '+'.
func Sanitize(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// Desanitize reverses Sanitize as Kafka's does, with Java's URLDecoder:
// %XX sequences become bytes and '+' a space; anything else stays. A '%'
// not followed by two hex digits is an error.
func Desanitize(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("desanitize %q: incomplete escape at byte %d", s, i)
			}
			hi, okHi := unhex(s[i+1])
			lo, okLo := unhex(s[i+2])
			if !okHi || !okLo {
				return "", fmt.Errorf("desanitize %q: invalid escape %q", s, s[i:i+3])
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
