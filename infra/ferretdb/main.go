// Command ferretdb-launcher runs FerretDB 1.24 embedded, with SQLite storage (or, with
// --handler postgresql, on a PostgreSQL database), for Parley's local services. `go install .../cmd/ferretdb` panics at start (no version file in a module
// build), so Parley embeds the library behind this small main instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to serve the MongoDB wire protocol on")
	dataDir := flag.String("data-dir", "", "directory of the SQLite databases (created if missing)")
	logLevel := flag.String("log-level", "warn", "FerretDB log level: debug, info, warn, error")
	// FerretDB already uses WAL; synchronous=NORMAL then fsyncs at checkpoints, not at every
	// commit. A killed process loses nothing; only a power loss may lose the last commits,
	// which is the right trade for a local development and test store. (Measured: the
	// driver's default behaves like NORMAL, 0.4 ms per insert; FULL costs 1.4 ms.)
	synchronous := flag.String("sqlite-synchronous", "normal", "SQLite synchronous pragma: off, normal, full")
	handler := flag.String("handler", "sqlite", "storage: sqlite (in --data-dir) or postgresql (at --postgresql-url)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL for --handler postgresql, e.g. postgres://127.0.0.1:5432/ferretdb")
	flag.Parse()

	if *handler == "postgresql" {
		if *postgresURL == "" {
			fmt.Fprintln(os.Stderr, "ferretdb-launcher: --postgresql-url is required with --handler postgresql")
			os.Exit(2)
		}
		run(&ferretdb.Config{
			Listener:      ferretdb.ListenerConfig{TCP: *listen},
			Handler:       "postgresql",
			PostgreSQLURL: *postgresURL,
			Logger:        newLogger(*logLevel),
		}, *postgresURL)
		return
	}
	if *handler != "sqlite" {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: unknown --handler %q (sqlite, postgresql)\n", *handler)
		os.Exit(2)
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb-launcher: --data-dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		os.Exit(2)
	}
	// FerretDB's SQLite backend wants an existing directory and a file: URL ending in "/".
	if err := os.MkdirAll(abs, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		os.Exit(2)
	}

	run(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")",
		Logger:    newLogger(*logLevel),
	}, abs)
}

func run(config *ferretdb.Config, data string) {
	f, err := ferretdb.New(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	fmt.Fprintf(os.Stderr, "ferretdb-launcher: serving %s (data %s)\n", f.MongoDBURI(), data)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		os.Exit(1)
	}
}

// newLogger writes FerretDB's own logs as text on stderr, which the launcher's caller
// redirects into the state directory's log file.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
