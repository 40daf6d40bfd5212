package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// discard is a logger that writes nothing (slog.DiscardHandler needs Go 1.24).
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestHello(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: status %d, want 200", resp.StatusCode)
	}
	if got, want := string(body), "Hello, World!"; got != want {
		t.Errorf("GET /: body %q, want %q", got, want)
	}
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	newHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /healthz: status %d, want 200", rec.Code)
	}
	if got := rec.Body.String(); got != "ok" {
		t.Errorf("GET /healthz: body %q, want %q", got, "ok")
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodHead, "/healthz", http.StatusOK},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		newHandler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
}

// start serves srv on a listener of the test's own (no free-port race) and
// returns its address and a function that stops it and returns serve's error.
func start(t *testing.T, srv *http.Server) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, discard, srv, ln) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(2 * time.Second):
			return errors.New("server did not stop within 2 s of cancellation")
		}
	}
	return ln.Addr().String(), stop
}

// TestServeShutsDownGracefully probes the real server the way the container
// HEALTHCHECK does, and checks that cancelling the context (what SIGTERM
// does) stops it cleanly.
func TestServeShutsDownGracefully(t *testing.T) {
	addr, stop := start(t, newServer(discard))
	_, port, _ := net.SplitHostPort(addr)
	if err := probe(port); err != nil {
		t.Fatalf("healthcheck against a serving instance: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
	if err := probe(port); err == nil {
		t.Error("healthcheck still passes after shutdown")
	}
}

func TestOversizedHeaderGets431(t *testing.T) {
	addr, stop := start(t, newServer(discard))
	defer stop()

	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("a", 2*maxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

func TestSlowClientIsCutOffByReadHeaderTimeout(t *testing.T) {
	srv := newServer(discard)
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	addr, stop := start(t, srv)
	defer stop()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request line and no end of headers: the client never finishes.
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := conn.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	var timeout net.Error
	if errors.As(err, &timeout) && timeout.Timeout() {
		t.Fatal("the server kept the connection of a client that never finished its headers")
	}
	if err == nil && !strings.Contains(line, " 408 ") {
		t.Fatalf("got %q, want the connection closed or 408", line)
	}
	if elapsed := time.Since(began); elapsed > 2*time.Second {
		t.Errorf("cut off after %v, want about %v", elapsed, srv.ReadHeaderTimeout)
	}
}
