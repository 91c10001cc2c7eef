// Command ferretdb2 runs an embedded FerretDB 2.x (MongoDB wire protocol) on
// PostgreSQL with the DocumentDB extension. Research tool for Fleetplane's
// distributed rollout benchmark (docs/ferretdb2.md); not part of the test setup.
//
// Usage:
//
//	ferretdb2 --listen-addr 127.0.0.1:27018 --postgresql-url postgres://... --state-dir DIR
//
// Prints the MongoDB URI on stdout once listening. SIGTERM/SIGINT stop it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/v2/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27018", "TCP address to listen on")
	pgURL := flag.String("postgresql-url", "postgres://postgres@127.0.0.1:5433/postgres", "PostgreSQL URL (DocumentDB installed)")
	stateDir := flag.String("state-dir", "", "state directory (required)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()
	if *stateDir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb2: --state-dir is required")
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb2: bad --log-level: %v\n", err)
		os.Exit(2)
	}
	if err := os.MkdirAll(*stateDir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb2: %v\n", err)
		os.Exit(1)
	}
	telemetry := false
	f, err := ferretdb.New(&ferretdb.Config{
		PostgreSQLURL: *pgURL,
		ListenAddr:    *listenAddr,
		StateDir:      *stateDir,
		LogLevel:      level,
		LogOutput:     os.Stderr,
		Telemetry:     &telemetry,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb2: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	// MongoDBURI blocks until Run has bound the listener.
	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()
	select {
	case u := <-uriCh:
		fmt.Println(u)
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "ferretdb2: listener not up after 30s")
	}
	<-done
}
