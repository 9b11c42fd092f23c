package broker

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/zkpaths"
)

// apiVersions builds the ApiVersions response listing every API we serve.
func (s *Server) apiVersions(errCode int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = errCode
	keys := make([]kmsg.Key, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		a := apis[k]
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{
			ApiKey: k.Int16(), MinVersion: a.versions.min, MaxVersion: a.versions.max,
		})
	}
	return resp
}

func (s *Server) handleAPIVersions(ctx context.Context, req *request) any {
	resp := s.apiVersions(0)
	resp.SetVersion(req.version)
	return resp
}

func (s *Server) handleMetadata(ctx context.Context, req *request) any {
	in := req.body.(*kmsg.MetadataRequest)
	resp := s.metadata(ctx, in, req)
	if in.Version >= 8 && in.IncludeTopicAuthorizedOperations {
		for i := range resp.Topics {
			mt := &resp.Topics[i]
			if mt.Topic != nil && mt.ErrorCode != kerr.TopicAuthorizationFailed.Code {
				mt.AuthorizedOperations = s.authorizedOperations(req, kmsg.ACLResourceTypeTopic, *mt.Topic)
			}
		}
	}
	if in.Version >= 8 && in.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = s.clusterAuthorizedOperations(req) // v8-v10 only: later versions drop it
	}
	return resp
}

// mayCreateTopic reports whether req's principal may have topic created:
// CREATE on the cluster, or on the topic, as Kafka checks for auto-created
// topics.
func (s *Server) mayCreateTopic(req *request, topic string) bool {
	return s.authorize(req, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, acl.ClusterName, false) ||
		s.authorized(req, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, topic)
}

// describeDenied is the Metadata entry of a topic the client may not
// DESCRIBE: its name as asked (or only its id, when asked by id), and
// nothing of it, not even whether it exists, as Kafka answers.
func describeDenied(name *string, id [16]byte) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID = name, id
	mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
	return mt
}

// metadata answers a Metadata request but for the authorized operations.
func (s *Server) metadata(ctx context.Context, in *kmsg.MetadataRequest, req *request) *kmsg.MetadataResponse {
	resp := in.ResponseKind().(*kmsg.MetadataResponse)
	snap := s.snapshot()
	cache := s.metadataCacheFor(snap)

	resp.ControllerID = snap.ControllerID
	resp.ClusterID = &snap.ClusterID
	resp.Brokers = cache.brokersOn(req.listener)

	// v0: an empty list means every topic; v1+: null means every topic.
	all := in.Topics == nil || (in.Version == 0 && len(in.Topics) == 0)
	if all {
		names := cache.topicNames()
		resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(names))
		for _, name := range names {
			if !s.authorize(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name, false) {
				continue // topics the client may not DESCRIBE are not listed
			}
			resp.Topics = append(resp.Topics, cache.topicEntry(snap.Topics[name], req.listener, req.version))
		}
		return resp
	}

	autoCreate := s.cfg.AutoCreateTopics && (in.Version < 4 || in.AllowAutoTopicCreation)
	for _, rt := range in.Topics {
		if rt.Topic == nil {
			// A lookup by topic id (v10+).
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			switch t := cache.topicByID(rt.TopicID); {
			case t == nil:
			case !s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name):
				mt = describeDenied(nil, t.ID) // ids are not secret, names are
			default:
				mt = cache.topicEntry(t, req.listener, req.version)
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		name := *rt.Topic
		if !s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
			resp.Topics = append(resp.Topics, describeDenied(&name, [16]byte{}))
			continue
		}
		if t := snap.Topics[name]; t != nil && !t.Deleting {
			resp.Topics = append(resp.Topics, cache.topicEntry(t, req.listener, req.version))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = &name
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		switch {
		case autoCreate && !s.mayCreateTopic(req, name):
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			mt.IsInternal = isInternalTopic(name)
		case autoCreate && isInternalTopic(name):
			// With its own settings, never the defaults of user
			// topics (Kafka 3 auto-creates internal topics so too).
			mt.IsInternal = true
			mt.ErrorCode = kerr.LeaderNotAvailable.Code
			if err := s.createInternalTopic(ctx, name); err != nil {
				mt.ErrorCode = kerr.UnknownServerError.Code
			}
		case autoCreate:
			mt.ErrorCode = s.autoCreateTopic(ctx, name).Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// describeTopic is a topic's Metadata entry for a request of version
// through listener: leaders, replicas, ISR and the offline replicas of each
// partition. A partition without a live leader gets LEADER_NOT_AVAILABLE,
// which clients retry; one whose leader has no endpoint on the request's
// listener gets LISTENER_NOT_FOUND (v6+, as in Kafka; LEADER_NOT_AVAILABLE
// before), since the client could not reach it. The replica lists are
// snap's own (a Snapshot is immutable): the entry must not be changed.
func describeTopic(snap *coordinator.Snapshot, t *coordinator.Topic, listener string, version int16) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(name)
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		for _, r := range p.Replicas {
			if _, live := snap.Brokers[r]; !live {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		leader, live := snap.Brokers[p.Leader]
		switch {
		case p.Leader < 0 || !live || p.State != zkpaths.StateOnline:
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
		case !hasListener(leader, listener):
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			if version >= 6 {
				mp.ErrorCode = kerr.ListenerNotFound.Code
			}
			mp.Leader = -1
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// autoCreateTopic creates name with the broker's defaults, as Kafka does for
// a Metadata or Produce request naming an unknown topic. The answer for this
// request is LEADER_NOT_AVAILABLE (the client retries and finds it) or why
// the topic cannot be created.
func (s *Server) autoCreateTopic(ctx context.Context, name string) *kerr.Error {
	if err := placement.ValidateTopicName(name); err != nil {
		return kerr.InvalidTopicException
	}
	snap := s.snapshot()
	rf := int(s.cfg.DefaultReplicationFactor)
	assignment, err := placement.AssignReplicas(snap.LiveBrokerIDs(), int(s.cfg.NumPartitions), rf, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0)))
	if err != nil {
		s.logger.WithError(err).WithField("topic", name).Warn("cannot auto-create topic")
		return kerr.InvalidReplicationFactor
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.meta.CreateTopic(ctx, name, assignment, nil); err != nil && !errors.Is(err, coordinator.ErrTopicExists) {
		s.logger.WithError(err).WithField("topic", name).Warn("cannot auto-create topic")
		return kerr.UnknownServerError
	}
	s.logger.WithField("topic", name).Info("auto-created topic")
	return kerr.LeaderNotAvailable
}
