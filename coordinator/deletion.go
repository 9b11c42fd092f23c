package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// ErrTopicNotBeingDeleted: ConfirmReplicasDeleted named a topic that exists
// and whose deletion was not requested.
var ErrTopicNotBeingDeleted = errors.New("topic is not being deleted")

// ConfirmReplicasDeleted tells the controller that this broker has removed its
// replicas of a topic being deleted (Topic.Deleting), by creating
// /admin/delete_topics/<t>/<id>. The controller removes the topic's znodes once
// every broker holding a replica has confirmed. Confirming twice, or after
// the deletion finished, is not an error.
func (s *Session) ConfirmReplicasDeleted(ctx context.Context, topic string) error {
	if err := placement.ValidateTopicName(topic); err != nil {
		return fmt.Errorf("confirm replicas of %s deleted: %w: %w", topic, ErrUnknownTopic, err)
	}
	epoch := []byte(strconv.FormatInt(s.BrokerEpoch(), 10))
	err := awaitErr(ctx, s, func() error {
		_, err := s.zk.create(zkpaths.DeleteTopicConfirmationPath(topic, s.cfg.BrokerID), epoch, zk.FlagPersistent)
		switch {
		case err == nil || errors.Is(err, zk.ErrNodeExists):
			return nil
		case !errors.Is(err, zk.ErrNoNode):
			return err
		}
		// No deletion request: either the deletion is over, or there was none.
		exists, _, err := s.zk.exists(zkpaths.TopicPath(topic))
		switch {
		case err != nil:
			return err
		case exists:
			return ErrTopicNotBeingDeleted
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("confirm replicas of %s deleted: %w", topic, err)
	}
	s.log.WithFields(logrus.Fields{"topic": topic}).Info("confirmed the removal of this broker's replicas of a deleted topic")
	return nil
}
