// Command otlpsink is an OTLP/HTTP receiver that accepts and discards
// everything, so benchmarks can export traces the way production does
// (protobuf over HTTP to a collector) without a collector. It counts what it
// received and prints the totals when stopped.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:4318", "address to listen on")
	flag.Parse()
	var requests, bytes atomic.Int64
	mux := http.NewServeMux()
	sink := func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		requests.Add(1)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}
	mux.HandleFunc("POST /v1/traces", sink)
	mux.HandleFunc("POST /v1/metrics", sink)
	srv := &http.Server{Addr: *addr, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	fmt.Printf("otlpsink: %d requests, %d bytes\n", requests.Load(), bytes.Load())
}
