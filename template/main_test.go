package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// discard is a logger that writes nothing (slog.DiscardHandler needs Go 1.24).
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// runMainEnv makes the test binary run main() instead of the tests, so that a
// test can start the service as a process of its own and send it signals.
const runMainEnv = "TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestHello(t *testing.T) {
	srv := httptest.NewServer(newHandler(&readiness{}))
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
	newHandler(&readiness{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
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
		{http.MethodGet, "/readyz", http.StatusOK},
		{http.MethodPost, "/readyz", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		newHandler(&readiness{}).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
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
	go func() { done <- serve(ctx, discard, srv, ln, &readiness{}, 0) }()
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

// get returns the status and body of GET url on a new connection each time,
// as a load balancer's probe or a new client would make it.
func get(url string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestShutdownDelayFromEnvironment(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", defaultShutdownDelay, false},
		{"5s", 5 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"0", 0, false},
		{"5", 0, true},
		{"-1s", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Setenv("SHUTDOWN_DELAY", tt.value)
		got, err := shutdownDelay()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("SHUTDOWN_DELAY=%q: got %v, %v; want %v, error %v", tt.value, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestStopSignalDrainsThenExits runs the service as a process of its own
// with SHUTDOWN_DELAY and sends it SIGTERM, as Kubernetes does at the start
// of a rolling update. During the delay it is unready (/readyz 503) and still
// answers every request; afterwards its listener is closed and it exits 0.
func TestStopSignalDrainsThenExits(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM cannot be sent on Windows")
	}
	const delay = time.Second
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "PORT=0", "SHUTDOWN_DELAY="+delay.String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + listeningAddr(t, stderr)
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	if status, _, err := get(base + "/readyz"); err != nil || status != http.StatusOK {
		t.Fatalf("GET /readyz before the signal: %d, %v; want 200", status, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	for {
		status, _, err := get(base + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz during the delay: %v (the listener closed before the delay was over)", err)
		}
		if status == http.StatusServiceUnavailable {
			break
		}
		if time.Since(signalled) > delay/2 {
			t.Fatalf("GET /readyz still %d %v after SIGTERM, want 503", status, time.Since(signalled))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status, body, err := get(base + "/"); err != nil || status != http.StatusOK || body != "Hello, World!" {
		t.Fatalf("GET / during the delay: %d %q, %v; want 200 Hello, World!", status, body, err)
	}
	if status, _, err := get(base + "/healthz"); err != nil || status != http.StatusOK {
		t.Fatalf("GET /healthz during the delay: %d, %v; want 200 (a draining instance is alive)", status, err)
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the process ended with %v, want exit status 0", err)
		}
	case <-time.After(delay + shutdownTimeout + 2*time.Second):
		t.Fatal("the process did not exit after the delay and the shutdown timeout")
	}
	if elapsed := time.Since(signalled); elapsed < delay {
		t.Errorf("exited %v after SIGTERM, before the %v delay was over", elapsed, delay)
	}
	if _, _, err := get(base + "/"); err == nil {
		t.Error("GET / still answered after the process exited")
	}
}

// listeningAddr reads the service's JSON log until its "listening" line and
// returns the address to reach it on.
func listeningAddr(t *testing.T, stderr io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "listening" {
				found <- entry.Addr
				return
			}
		}
		close(found)
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			t.Fatal("the process ended without logging its address")
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		return net.JoinHostPort("127.0.0.1", port)
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not log its address within 10 s")
	}
	return ""
}

// TestServeShutsDownGracefully probes the real server the way the container
// HEALTHCHECK does, and checks that cancelling the context (what SIGTERM
// does) stops it cleanly.
func TestServeShutsDownGracefully(t *testing.T) {
	addr, stop := start(t, newServer(discard, &readiness{}))
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
	addr, stop := start(t, newServer(discard, &readiness{}))
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
	srv := newServer(discard, &readiness{})
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
