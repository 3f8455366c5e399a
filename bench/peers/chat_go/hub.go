package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// mailbox of a connection; a full one closes it with 4000 (slow consumer), Parley's policy.
const mailbox = 1024

type conn struct {
	ws     *websocket.Conn
	out    chan *websocket.PreparedMessage
	closed chan struct{}
	once   sync.Once
}

func (c *conn) offer(m *websocket.PreparedMessage) {
	select {
	case c.out <- m:
	case <-c.closed:
	default:
		c.close(4000, "slow consumer")
	}
}

func (c *conn) close(code int, reason string) {
	c.once.Do(func() {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
			time.Now().Add(time.Second))
		close(c.closed)
		_ = c.ws.Close()
	})
}

func (c *conn) writeLoop() {
	for {
		select {
		case m := <-c.out:
			if err := c.ws.WritePreparedMessage(m); err != nil {
				c.close(1011, "write failed")
				return
			}
		case <-c.closed:
			return
		}
	}
}

type hub struct {
	mu      sync.RWMutex
	threads map[string]map[*conn]struct{}
	conns   map[*conn]struct{}
}

func newHub() *hub {
	return &hub{threads: map[string]map[*conn]struct{}{}, conns: map[*conn]struct{}{}}
}

func (h *hub) subscribe(c *conn, thread string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	subs := h.threads[thread]
	if subs == nil {
		subs = map[*conn]struct{}{}
		h.threads[thread] = subs
	}
	subs[c] = struct{}{}
}

func (h *hub) add(c *conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	for thread, subs := range h.threads {
		if _, ok := subs[c]; ok {
			delete(subs, c)
			if len(subs) == 0 {
				delete(h.threads, thread)
			}
		}
	}
}

// broadcast sends stored messages to their threads' subscribers: each frame is encoded
// once for all its recipients.
func (h *hub) broadcast(docs []stored) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i := range docs {
		subs := h.threads[docs[i].ThreadID]
		if len(subs) == 0 {
			continue
		}
		payload, _ := json.Marshal(&docs[i])
		frame, err := websocket.NewPreparedMessage(websocket.TextMessage, payload)
		if err != nil {
			continue
		}
		for c := range subs {
			c.offer(frame)
		}
	}
}

func (h *hub) closeAll() {
	h.mu.RLock()
	all := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		all = append(all, c)
	}
	h.mu.RUnlock()
	for _, c := range all {
		c.close(1001, "going away")
	}
}

type wsEndpoint struct {
	keys     *verifier
	hub      *hub
	upgrader websocket.Upgrader
}

func (e *wsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := e.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws, out: make(chan *websocket.PreparedMessage, mailbox), closed: make(chan struct{})}
	e.hub.add(c)
	defer e.hub.remove(c)
	go c.writeLoop()
	ws.SetReadLimit(64 << 10)
	authed := false
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			c.close(1000, "")
			return
		}
		var cmd struct {
			Type     string `json:"type"`
			Token    string `json:"token"`
			ThreadID string `json:"thread_id"`
		}
		if json.Unmarshal(data, &cmd) != nil {
			c.close(1007, "invalid JSON")
			return
		}
		switch {
		case cmd.Type == "auth":
			if _, err := e.keys.subject(context.Background(), cmd.Token); err != nil {
				c.close(1008, "invalid token")
				return
			}
			authed = true
		case !authed:
			c.close(1008, "auth first")
			return
		case cmd.Type == "subscribe" && cmd.ThreadID != "":
			e.hub.subscribe(c, cmd.ThreadID)
			reply, _ := json.Marshal(map[string]any{
				"type": "subscribed", "thread_id": cmd.ThreadID, "last_seq": 0, "online": 0,
			})
			if m, err := websocket.NewPreparedMessage(websocket.TextMessage, reply); err == nil {
				c.offer(m)
			}
		case cmd.Type == "ping":
			if m, err := websocket.NewPreparedMessage(websocket.TextMessage, []byte(`{"type":"pong"}`)); err == nil {
				c.offer(m)
			}
		}
	}
}
