package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// FerretDB goes on past a clash in an ordered insert of more than 100 documents; Parley
// writes at most 100 at a time for that reason, and so does the peer.
const insertChunk = 100

type store struct {
	client   *mongo.Client
	messages *mongo.Collection
}

// stored is a message document, as Parley's store keeps one.
type stored struct {
	ID        string    `bson:"_id" json:"-"`
	Type      string    `bson:"-" json:"type"`
	MessageID string    `bson:"message_id" json:"message_id"`
	ThreadID  string    `bson:"thread_id" json:"thread_id"`
	Seq       int64     `bson:"seq" json:"seq"`
	SenderID  string    `bson:"sender_id" json:"sender_id"`
	Text      string    `bson:"text" json:"text"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
}

func openStore(ctx context.Context, uri string) (*store, error) {
	journal := true // w=majority, j=true: Parley's production write concern (mongo_write_majority)
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetWriteConcern(
		&writeconcern.WriteConcern{W: "majority", Journal: &journal}))
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	database := strings.TrimPrefix(u.Path, "/")
	if database == "" {
		database = "bench_go_peer"
	}
	messages := client.Database(database).Collection("messages")
	_, err = messages.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "message_id", Value: 1}}, Options: options.Index().SetUnique(true)},
		// The fence a second sequencer of the same thread would hit, as in Parley.
		{Keys: bson.D{{Key: "thread_id", Value: 1}, {Key: "seq", Value: 1}}, Options: options.Index().SetUnique(true)},
	})
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return &store{client: client, messages: messages}, nil
}

func (s *store) close() { _ = s.client.Disconnect(context.Background()) }

// insert stores the batch; a document whose message_id is already there (a redelivered
// record) counts as stored. Any other failure is returned and the caller retries the batch.
func (s *store) insert(ctx context.Context, docs []stored) error {
	for start := 0; start < len(docs); start += insertChunk {
		end := min(start+insertChunk, len(docs))
		batch := make([]any, 0, end-start)
		for i := range docs[start:end] {
			batch = append(batch, docs[start+i])
		}
		_, err := s.messages.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		if err != nil && !onlyDuplicates(err) {
			return err
		}
	}
	return nil
}

func onlyDuplicates(err error) bool {
	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) || bulk.WriteConcernError != nil || len(bulk.WriteErrors) == 0 {
		return false
	}
	for _, we := range bulk.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}
