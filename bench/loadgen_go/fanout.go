package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// fanout mirrors bench/loadgen/_fanout.py: N subscribers of one thread, one sender sends M
// messages with at most `window` unacknowledged; deliveries/s and delivery latency.
//
// Throughput is counted from the first delivery to the last, so the pipeline's start-up
// delay shows in the latency (sender wrote the frame -> a receiver read it), not in the rate.
type fanoutResult struct {
	Deliveries     int            `json:"deliveries"`
	Expected       int            `json:"expected"`
	DeliveriesPerS float64        `json:"deliveries_per_s"`
	MessagesPerS   float64        `json:"messages_per_s"`
	Acks           int64          `json:"acks"`
	SendErrors     int64          `json:"send_errors"`
	Foreign        int64          `json:"foreign"`
	Latency        distribution   `json:"latency"`
	GenCPU         float64        `json:"gen_cpu"`
	ServerCloses   map[string]int `json:"server_closes"`
	Errors         map[string]int `json:"errors"`
	Generator      string         `json:"generator"`
}

// receiver holds what one connection's reader goroutine saw; nothing else touches it until
// the readers have stopped, so the hot path takes no lock.
type receiver struct {
	latencies   []float64
	first, last time.Duration // since the job's base time; valid when deliveries > 0
	deliveries  int
}

type sendFrame struct {
	Type        string `json:"type"`
	ThreadID    string `json:"thread_id"`
	ClientMsgID string `json:"client_msg_id"`
	Text        string `json:"text"`
}

func fanout(j *job) any {
	n, m := j.Clients, j.Messages
	expected := n * m
	base := time.Now()
	since := func() time.Duration { return time.Since(base) }
	sentAt := make([]atomic.Int64, m) // written by the sender, read by the receivers
	receivers := make([]receiver, n)
	prefix := []byte(j.RunID + ":")
	var total, foreign atomic.Int64
	done := make(chan struct{})
	var doneOnce sync.Once

	onRaw := func(c *conn, payload []byte) bool {
		r := &receivers[c.id]
		var now time.Duration
		hits := scanMarkers(payload, prefix, func(k int) {
			if now == 0 {
				now = since()
			}
			if k < m {
				r.latencies = append(r.latencies, (now - time.Duration(sentAt[k].Load())).Seconds())
			}
		})
		if hits == 0 {
			return false
		}
		if r.deliveries == 0 {
			r.first = now
		}
		r.last = now
		r.deliveries += hits
		if total.Add(int64(hits)) >= int64(expected) {
			doneOnce.Do(func() { close(done) })
		}
		return true
	}
	onEvent := func(_ *conn, ev event) {
		if ev["type"] == "message" {
			foreign.Add(1) // a message of another run (history replayed on subscribe)
		}
	}
	fl := openFleet(j.WS, n, j.Tokens, func(int) string { return j.ThreadID },
		fleetOptions{onRaw: onRaw, onEvent: onEvent, limit: seconds(j.SetupLimitS)})
	if int(fl.subscribed.Load()) < n {
		fl.close()
		return failure{fmt.Sprintf("only %d/%d subscribed", fl.subscribed.Load(), n), fl.errorCounts(), "go"}
	}

	credit := make(chan struct{}, j.Window)
	for range j.Window {
		credit <- struct{}{}
	}
	var acks, sendErrors, lastAck atomic.Int64
	release := func() {
		select {
		case credit <- struct{}{}:
		default: // an extra ack: never block the reader
		}
	}
	onSenderEvent := func(_ *conn, ev event) {
		switch ev["type"] {
		case "ack":
			acks.Add(1)
			lastAck.Store(int64(since()))
			release()
		case "error":
			sendErrors.Add(1)
			release()
		}
	}
	senderToken := j.SenderToken
	if senderToken == "" {
		senderToken = j.Tokens[0]
	}
	senders := openFleet(j.WS, 1, []string{senderToken}, func(int) string { return "" },
		fleetOptions{onEvent: onSenderEvent, limit: 60 * time.Second})
	if len(senders.clients) == 0 {
		fl.close()
		return failure{"sender could not connect", senders.errorCounts(), "go"}
	}
	sender := senders.clients[0]
	time.Sleep(200 * time.Millisecond) // let the sender's auth frame be processed first
	senderGone := make(chan struct{})
	go func() { senders.readers.Wait(); close(senderGone) }()

	cpu := startCPU()
	t0 := since()
send:
	for k := range m {
		select {
		case <-credit:
		case <-senderGone: // the server closed the sender: no ack will come
			break send
		}
		body, _ := json.Marshal(sendFrame{
			"send", j.ThreadID, fmt.Sprintf("%s-%d", j.RunID, k),
			paddedText(fmt.Sprintf("%s%d:", prefix, k), j.TextBytes),
		})
		sentAt[k].Store(int64(since()))
		if err := sender.ws.WriteMessage(websocket.TextMessage, body); err != nil {
			senders.addError("send: " + err.Error())
			break
		}
	}
	// Wait for every delivery, giving up after idle_timeout without progress.
	for seen := int64(-1); ; {
		cur := total.Load()
		if cur >= int64(expected) || cur == seen {
			break
		}
		seen = cur
		select {
		case <-done:
		case <-time.After(seconds(j.IdleTimeout)):
		}
	}
	genCPU := cpu.stop()
	closes := fl.serverCloses()
	fl.close()
	senders.close()

	var latencies []float64
	deliveries := 0
	var first, last time.Duration = -1, 0
	for i := range receivers {
		r := &receivers[i]
		if r.deliveries == 0 {
			continue
		}
		latencies = append(latencies, r.latencies...)
		deliveries += r.deliveries
		if first < 0 || r.first < first {
			first = r.first
		}
		last = max(last, r.last)
	}
	res := fanoutResult{
		Deliveries: deliveries, Expected: expected, Acks: acks.Load(),
		SendErrors: sendErrors.Load(), Foreign: foreign.Load(), Latency: newDistribution(latencies),
		GenCPU: genCPU, ServerCloses: closes,
		Errors: mergeCounts(fl.errorCounts(), senders.errorCounts()), Generator: "go",
	}
	if span := (last - first).Seconds(); first >= 0 && span > 0 {
		res.DeliveriesPerS = float64(deliveries-n) / span
	}
	if la := time.Duration(lastAck.Load()); la > t0 {
		res.MessagesPerS = float64(m) / (la - t0).Seconds()
	}
	return res
}
