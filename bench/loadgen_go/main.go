// Command loadgen_go is the bench's load generator in Go: `loadgen_go '<job json>'`.
//
// It speaks the job protocol of the Python generator (bench/loadgen): the job is a JSON
// object whose `kind` names the work, and the result is one JSON object on the last line of
// stdout, with the same keys and meanings. It exists because on a small machine the Python
// generator is the ceiling of the fan-out figures: a generator that needs less CPU per
// delivery leaves the server under test the cores it competes for.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"
)

// job is the union of the fields the supported kinds read; absent keys keep the defaults
// set in defaultJob (the same defaults as the Python jobs).
type job struct {
	Kind        string     `json:"kind"`
	WS          wsTarget   `json:"ws"`
	HTTP        httpTarget `json:"http"`
	Clients     int        `json:"clients"`
	Messages    int        `json:"messages"`
	Window      int        `json:"window"`
	ThreadID    string     `json:"thread_id"`
	ThreadIDs   []string   `json:"thread_ids"`
	RunID       string     `json:"run_id"`
	Tokens      []string   `json:"tokens"`
	SenderToken string     `json:"sender_token"`
	TextBytes   int        `json:"text_bytes"`
	IdleTimeout float64    `json:"idle_timeout"`
	SetupLimitS float64    `json:"setup_limit_s"`
	Timeout     float64    `json:"timeout"`
	// e2e
	Rate        float64 `json:"rate"`
	Duration    float64 `json:"duration"`
	Connections int     `json:"connections"`
	Path        string  `json:"path"`
	DrainS      float64 `json:"drain_s"`
	InflightS   float64 `json:"inflight_s"`
}

type wsTarget struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	Path string `json:"path"`
}

type httpTarget struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func defaultJob() job {
	return job{
		Window:      64,
		TextBytes:   100,
		IdleTimeout: 10,
		SetupLimitS: 180,
		Timeout:     300,
		Connections: 32,
		Path:        "/api/messages",
		DrainS:      5,
		InflightS:   30,
	}
}

// jobs maps a kind to its runner; the harness sends only these kinds here.
var jobs = map[string]func(*job) any{
	"fanout": fanout,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen_go '<job json>'")
		os.Exit(2)
	}
	// One thread runs the goroutines, like the Python generator's one event loop: with two
	// on a 2-core machine the runtime's threads preempt the single-threaded server under
	// test (measured: the websockets peer's fan-out fell from ~230k to ~190k deliveries/s).
	// GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	j := defaultJob()
	if err := json.Unmarshal([]byte(os.Args[1]), &j); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen_go: bad job:", err)
		os.Exit(2)
	}
	run, ok := jobs[j.Kind]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen_go: unsupported kind %q\n", j.Kind)
		os.Exit(2)
	}
	// Like the Python generator's asyncio.wait_for: a job past its timeout fails the run.
	time.AfterFunc(seconds(j.Timeout), func() {
		fmt.Fprintf(os.Stderr, "loadgen_go: job %s ran past %g s\n", j.Kind, j.Timeout)
		os.Exit(1)
	})
	out, err := json.Marshal(run(&j))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen_go: result:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// failure is the result of a job that could not run; the harness raises on "error".
type failure struct {
	Error     string         `json:"error"`
	Errors    map[string]int `json:"errors"`
	Generator string         `json:"generator"`
}
