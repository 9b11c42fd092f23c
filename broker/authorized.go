package broker

// ACL operation codes (Kafka's AclOperation), as bits of the authorized
// operations fields.
const (
	aclRead            = 3
	aclWrite           = 4
	aclCreate          = 5
	aclDelete          = 6
	aclAlter           = 7
	aclDescribe        = 8
	aclClusterAction   = 9
	aclDescribeConfigs = 10
	aclAlterConfigs    = 11
	aclIdempotentWrite = 12
)

// Asked for the operations a client may perform on a resource (KIP-430),
// Kafka without an authorizer answers every operation the resource type
// supports; kzoo has no ACLs, so it answers the same. Not asked, the
// fields keep their default, -2147483648 (kmsg's New* functions set it).
const (
	topicAuthorizedOperations = 1<<aclRead | 1<<aclWrite | 1<<aclCreate | 1<<aclDelete | 1<<aclAlter |
		1<<aclDescribe | 1<<aclDescribeConfigs | 1<<aclAlterConfigs
	clusterAuthorizedOperations = 1<<aclCreate | 1<<aclAlter | 1<<aclDescribe | 1<<aclClusterAction |
		1<<aclDescribeConfigs | 1<<aclAlterConfigs | 1<<aclIdempotentWrite
)
