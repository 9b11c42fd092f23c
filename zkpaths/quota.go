package zkpaths

// QuotaEntity names a client quota entity. User and ClientID are unsanitized
// names, or DefaultConfigEntity ("<default>"); "" means the entity has no
// such part. At least one part is set.
type QuotaEntity struct{ User, ClientID string }
