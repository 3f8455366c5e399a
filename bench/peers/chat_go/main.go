// Command chat_go is the bench's same-guarantee peer: the original chat system's design in
// Go, run on the same Kafka, store, OIDC provider and generator as Parley.
//
//	POST /api/messages  bearer token verified against the provider's JWKS (RS256, iss, aud,
//	                    exp) → produce to Kafka (acks=all, idempotent producer) → 202 only
//	                    after the broker's ack ("accepted means durable", as in Parley)
//	consumer            group consumer → unordered insert of the batch into the store with a
//	                    unique message_id index (a redelivered record hits it: code 11000,
//	                    stored once) → only then broadcast to the thread's WebSocket
//	                    subscribers (persist before broadcast) → commit the offsets
//	GET /ws             Parley's WebSocket protocol subset the generator speaks: auth,
//	                    subscribe (answered with `subscribed`), message frames
//
// Configuration comes from the environment (BENCH_KAFKA_BOOTSTRAP, BENCH_MONGO_URI,
// BENCH_OIDC_ISSUER, BENCH_AUDIENCE, BENCH_TOPIC, BENCH_GROUP, BENCH_PARTITIONS). It prints
// {"port": N} on stdout once it listens, its consumer has its partitions and the keys are
// loaded, as the Python peers do; SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

type config struct {
	bootstrap  string
	mongoURI   string
	issuer     string
	audience   string
	topic      string
	group      string
	partitions int
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func loadConfig() config {
	partitions, err := strconv.Atoi(env("BENCH_PARTITIONS", "6"))
	if err != nil || partitions < 1 {
		log.Fatalf("BENCH_PARTITIONS: %q is not a positive integer", os.Getenv("BENCH_PARTITIONS"))
	}
	return config{
		bootstrap:  env("BENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
		mongoURI:   env("BENCH_MONGO_URI", "mongodb://127.0.0.1:27017/bench_go_peer"),
		issuer:     env("BENCH_OIDC_ISSUER", ""),
		audience:   env("BENCH_AUDIENCE", "parley"),
		topic:      env("BENCH_TOPIC", "bench.gopeer"),
		group:      env("BENCH_GROUP", "bench-gopeer"),
		partitions: partitions,
	}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("chat_go: ")
	cfg := loadConfig()
	if cfg.issuer == "" {
		log.Fatal("BENCH_OIDC_ISSUER is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	setup, cancelSetup := context.WithTimeout(ctx, 60*time.Second)
	defer cancelSetup()
	keys, err := newVerifier(setup, cfg.issuer, cfg.audience)
	if err != nil {
		log.Fatalf("keys: %v", err)
	}
	store, err := openStore(setup, cfg.mongoURI)
	if err != nil {
		log.Fatalf("store: %v", err)
	}
	defer store.close()
	bus, err := openBus(setup, cfg)
	if err != nil {
		log.Fatalf("kafka: %v", err)
	}
	defer bus.close()
	hub := newHub()
	consumerDone := make(chan error, 1)
	go func() { consumerDone <- consume(ctx, bus, store, hub) }()
	if err := bus.waitAssigned(setup); err != nil {
		log.Fatalf("kafka: no partitions assigned: %v", err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /api/messages", &poster{keys: keys, bus: bus})
	mux.Handle("GET /ws", &wsEndpoint{keys: keys, hub: hub})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()
	announce, _ := json.Marshal(map[string]int{"port": ln.Addr().(*net.TCPAddr).Port})
	fmt.Println(string(announce))

	select {
	case <-ctx.Done():
	case err := <-served:
		log.Printf("server: %v", err)
	case err := <-consumerDone:
		log.Printf("consumer: %v", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(shutdown)
	hub.closeAll()
}
