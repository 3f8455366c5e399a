package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket client of a fleet. Its reader goroutine is the only one that reads;
// writes come from one goroutine at a time (setup, then the job), as gorilla requires.
type conn struct {
	id        int
	ws        *websocket.Conn
	closeCode atomic.Int32 // close code the server sent, 0 if none
}

// event is one decoded server event; only frames without the run marker are decoded.
type event map[string]any

// fleet mirrors bench/loadgen/_common.py `Fleet`/`open_fleet`: many connections, each
// authenticated and optionally subscribed, with the errors the server reported.
type fleet struct {
	fleetOptions

	mu      sync.Mutex
	clients []*conn
	errors  map[string]int

	want       int64
	subscribed atomic.Int64
	failed     atomic.Int64
	allIn      chan struct{}
	allInOnce  sync.Once
	readers    sync.WaitGroup
}

type fleetOptions struct {
	onRaw   func(c *conn, payload []byte) bool // sees every frame first; true: consumed
	onEvent func(c *conn, ev event)            // every event but `subscribed`
	limit   time.Duration                      // for every subscription to be confirmed
}

type authFrame struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

type subscribeFrame struct {
	Type     string `json:"type"`
	ThreadID string `json:"thread_id"`
	SinceSeq int    `json:"since_seq"`
}

// openFleet opens `count` connections, at most 100 handshakes at a time: auth with
// tokens[i % len], then subscribe client i to threadOf(i) ("" for none). It returns once
// every subscription is confirmed or refused, or after `limit` (then errors say so).
func openFleet(t wsTarget, count int, tokens []string, threadOf func(int) string,
	opts fleetOptions) *fleet {
	f := &fleet{fleetOptions: opts, errors: map[string]int{}, allIn: make(chan struct{})}
	for i := range count {
		if threadOf(i) != "" {
			f.want++
		}
	}
	if f.want == 0 {
		f.markAllIn()
	}
	// No Origin header (not a browser) and no compression offered, as the Python client.
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: (&net.Dialer{}).DialContext}
	url := fmt.Sprintf("ws://%s/%s", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), trimSlash(t.Path))
	gate := make(chan struct{}, 100)
	var opening sync.WaitGroup
	for i := range count {
		gate <- struct{}{}
		opening.Add(1)
		go func() {
			defer func() { <-gate; opening.Done() }()
			ws, resp, err := dialer.Dial(url, nil)
			if err != nil {
				if resp != nil { // the server answered, but not with an upgrade
					err = fmt.Errorf("%w: %s %v", err, resp.Status, resp.Header)
				}
				f.addError("connect: " + err.Error())
				return
			}
			c := &conn{id: i, ws: ws}
			f.readers.Add(1)
			go f.read(c)
			f.mu.Lock()
			f.clients = append(f.clients, c)
			f.mu.Unlock()
			_ = c.sendJSON(authFrame{"auth", tokens[i%len(tokens)]})
			if thread := threadOf(i); thread != "" {
				_ = c.sendJSON(subscribeFrame{"subscribe", thread, 0})
			}
		}()
	}
	opening.Wait()
	select {
	case <-f.allIn:
	case <-time.After(opts.limit):
		f.addError("subscribe timeout")
	}
	return f
}

func trimSlash(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

func (f *fleet) markAllIn() { f.allInOnce.Do(func() { close(f.allIn) }) }

func (f *fleet) addError(msg string) {
	f.mu.Lock()
	f.errors[truncate(msg, 120)]++
	f.mu.Unlock()
}

func (f *fleet) read(c *conn) {
	defer f.readers.Done()
	var buf bytes.Buffer // reused: one allocation per connection, not per frame
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode.Store(int32(ce.Code))
			}
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		f.message(c, buf.Bytes())
	}
}

func (f *fleet) message(c *conn, payload []byte) {
	if f.onRaw != nil && f.onRaw(c, payload) {
		return
	}
	events, err := eventsOf(payload)
	if err != nil {
		f.addError("bad frame: " + err.Error())
		return
	}
	for _, ev := range events {
		switch ev["type"] {
		case "subscribed":
			f.subscribed.Add(1)
		case "error":
			f.addError(pyStr(ev["code"]) + ": " + pyStr(ev["message"]))
			f.failed.Add(1)
			f.onEvent(c, ev)
		default:
			f.onEvent(c, ev)
		}
	}
	if f.subscribed.Load()+f.failed.Load() >= f.want {
		f.markAllIn()
	}
}

// eventsOf: a server frame carries one event object or a JSON array of them.
func eventsOf(payload []byte) ([]event, error) {
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) > 0 && p[0] == '[' {
		var evs []event
		err := json.Unmarshal(p, &evs)
		return evs, err
	}
	var ev event
	err := json.Unmarshal(payload, &ev)
	return []event{ev}, err
}

// pyStr formats a JSON value as Python's str() would, so error keys match the Python
// generator's (`None` for a missing code).
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

func (c *conn) sendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// serverCloses counts the close codes the server sent ("closed 4000": slow consumer...).
func (f *fleet) serverCloses() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, c := range f.clients {
		if code := c.closeCode.Load(); code != 0 {
			out[fmt.Sprintf("closed %d", code)]++
		}
	}
	return out
}

func (f *fleet) errorCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.errors))
	for k, v := range f.errors {
		out[k] = v
	}
	return out
}

// close says goodbye (1000) on every connection and waits briefly for the readers to stop.
func (f *fleet) close() {
	f.mu.Lock()
	clients := append([]*conn(nil), f.clients...)
	f.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	for _, c := range clients {
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
		_ = c.ws.Close()
	}
	stopped := make(chan struct{})
	go func() { f.readers.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
	}
}

// mergeCounts adds maps of counts (Python's Counter + Counter).
func mergeCounts(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			if v > 0 {
				out[k] += v
			}
		}
	}
	return out
}
