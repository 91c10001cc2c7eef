// Command ferretdb runs an embedded FerretDB 1.x (MongoDB wire protocol) with
// the SQLite backend, for Fleetplane's tests and local development.
//
// Usage:
//
//	ferretdb --listen-addr 127.0.0.1:27017 --sqlite-dir DIR [--log-level info]
//
// Once the listener is bound it prints the MongoDB URI (one line, e.g.
// "mongodb://127.0.0.1:27017/") on stdout, so "--listen-addr 127.0.0.1:0"
// can be used to pick a free port. Logs go to stderr. SIGTERM or SIGINT
// closes the listener and the backend, then the process exits 0.
//
// FerretDB's own cmd/ferretdb cannot be built with "go install" (it panics
// on its missing generated version file); the embeddable package used here
// skips that check when it is not the main module.
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
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free port)")
	sqliteDir := flag.String("sqlite-dir", "", "directory for the SQLite databases, one file per database; created if missing (required)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Parse()

	if *sqliteDir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "ferretdb: --sqlite-dir is required and no positional arguments are accepted")
		flag.Usage()
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad --log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	dir, err := filepath.Abs(*sqliteDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		logger.Error("cannot prepare --sqlite-dir", "error", err)
		os.Exit(1)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   logger,
		Handler:  "sqlite",
		// FerretDB wants a file: URI naming a directory, with a trailing slash.
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/",
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		os.Exit(1)
	}

	// New has already bound the listener, so the address is known now.
	fmt.Println(f.MongoDBURI())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Run returns after ctx is cancelled and all connections and the backend are closed.
	if err := f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with an error", "error", err)
		os.Exit(1)
	}
	logger.Info("FerretDB stopped")
}
