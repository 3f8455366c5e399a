package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bus holds the producer and the group consumer of the peer's topic.
type bus struct {
	topic    string
	producer *kgo.Client
	consumer *kgo.Client

	assignedOnce sync.Once
	assigned     chan struct{}
}

func openBus(ctx context.Context, cfg config) (*bus, error) {
	admin, err := kgo.NewClient(kgo.SeedBrokers(cfg.bootstrap))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	created, err := kadm.NewClient(admin).CreateTopic(ctx, int32(cfg.partitions), 1, nil, cfg.topic)
	if err != nil && !errors.Is(created.Err, kerr.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topic %s: %w", cfg.topic, err)
	}
	if created.Err != nil && !errors.Is(created.Err, kerr.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topic %s: %w", cfg.topic, created.Err)
	}
	b := &bus{topic: cfg.topic, assigned: make(chan struct{})}
	// franz-go's producer is idempotent unless told otherwise; acks=all is its default too,
	// both are spelled out because they are the guarantee being compared.
	b.producer, err = kgo.NewClient(
		kgo.SeedBrokers(cfg.bootstrap),
		kgo.DefaultProduceTopic(cfg.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return nil, err
	}
	// Parley's consumers: fetch.min.bytes 1, fetch.wait.max.ms 100 (adapters/_kafka_config.py).
	b.consumer, err = kgo.NewClient(
		kgo.SeedBrokers(cfg.bootstrap),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topic),
		kgo.DisableAutoCommit(),
		kgo.FetchMinBytes(1),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			b.assignedOnce.Do(func() { close(b.assigned) })
		}),
	)
	if err != nil {
		b.producer.Close()
		return nil, err
	}
	return b, nil
}

func (b *bus) waitAssigned(ctx context.Context) error {
	select {
	case <-b.assigned:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// produce returns once the broker acknowledged the record (acks=all).
func (b *bus) produce(ctx context.Context, key, value []byte) error {
	return b.producer.ProduceSync(ctx, &kgo.Record{Key: key, Value: value}).FirstErr()
}

func (b *bus) close() {
	b.consumer.Close()
	b.producer.Close()
}
