package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log"
	"net/http"
	"time"
)

// command is the Kafka record of an accepted post.
type command struct {
	MessageID   string    `json:"message_id"`
	ThreadID    string    `json:"thread_id"`
	SenderID    string    `json:"sender_id"`
	ClientMsgID string    `json:"client_msg_id,omitempty"`
	Text        string    `json:"text"`
	AcceptedAt  time.Time `json:"accepted_at"`
}

// Parley's limits on a post (protocol: thread ids and client_msg_id up to 128, text 4,000).
const (
	maxBody     = 64 << 10
	maxIDLen    = 128
	maxTextRune = 4000
)

type poster struct {
	keys *verifier
	bus  *bus
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (p *poster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, err := p.keys.subject(r.Context(), bearer(r))
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"detail": "invalid token"})
		return
	}
	var body struct {
		ThreadID    string `json:"thread_id"`
		Text        string `json:"text"`
		ClientMsgID string `json:"client_msg_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&body); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"detail": "invalid body"})
		return
	}
	if body.ThreadID == "" || len(body.ThreadID) > maxIDLen || len(body.ClientMsgID) > maxIDLen ||
		body.Text == "" || len([]rune(body.Text)) > maxTextRune {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"detail": "invalid fields"})
		return
	}
	cmd := command{
		MessageID:   newMessageID(),
		ThreadID:    body.ThreadID,
		SenderID:    sub,
		ClientMsgID: body.ClientMsgID,
		Text:        body.Text,
		AcceptedAt:  time.Now().UTC(),
	}
	record, _ := json.Marshal(cmd)
	if err := p.bus.produce(r.Context(), []byte(cmd.ThreadID), record); err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"detail": "not acknowledged"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"message_id": cmd.MessageID, "thread_id": cmd.ThreadID, "accepted_at": cmd.AcceptedAt,
	})
}

// consume stores each fetched batch, broadcasts it only once stored, then commits its
// offsets: a crash before the commit redelivers the batch, which the unique message_id
// index stores once.
func consume(ctx context.Context, b *bus, s *store, h *hub) error {
	seqs := map[string]int64{} // per-thread numbering; the unique (thread_id, seq) is the fence
	for {
		fetches := b.consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			log.Printf("fetch %s/%d: %v", topic, partition, err)
		})
		records := fetches.Records()
		if len(records) == 0 {
			continue
		}
		docs := make([]stored, 0, len(records))
		for _, rec := range records {
			var cmd command
			if err := json.Unmarshal(rec.Value, &cmd); err != nil || cmd.MessageID == "" {
				log.Printf("skipping a malformed record at %s/%d@%d", rec.Topic, rec.Partition, rec.Offset)
				continue
			}
			seqs[cmd.ThreadID]++
			docs = append(docs, stored{
				ID: cmd.MessageID, Type: "message", MessageID: cmd.MessageID,
				ThreadID: cmd.ThreadID, Seq: seqs[cmd.ThreadID], SenderID: cmd.SenderID,
				Text: cmd.Text, CreatedAt: cmd.AcceptedAt,
			})
		}
		for attempt := 0; ; attempt++ {
			err := s.insert(ctx, docs)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			log.Printf("store (attempt %d): %v", attempt+1, err)
			time.Sleep(min(time.Duration(attempt+1)*100*time.Millisecond, 2*time.Second))
		}
		h.broadcast(docs)
		if err := b.consumer.CommitRecords(ctx, records...); err != nil && ctx.Err() == nil {
			log.Printf("commit: %v", err)
		}
	}
}

// newMessageID is a random UUID (version 4), as Parley's gateway makes one per accepted post.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
