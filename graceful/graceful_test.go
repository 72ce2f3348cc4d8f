package graceful

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// server is a Serve under test: /ready answers 503 once draining, /slow
// waits for release.
type server struct {
	base    string
	cancel  context.CancelFunc
	release chan struct{}
	entered chan struct{}
	done    chan error
}

func start(t *testing.T, opts Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := &State{}
	s := &server{base: "http://" + ln.Addr().String(), release: make(chan struct{}), entered: make(chan struct{}, 10), done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if st.Draining() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		s.entered <- struct{}{}
		select {
		case <-s.release:
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	s.cancel = cancel
	srv := &http.Server{Handler: mux, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	opts.Logger = slog.New(slog.DiscardHandler)
	go func() { s.done <- Serve(ctx, srv, st, func() error { return srv.Serve(ln) }, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.release:
		default:
			close(s.release)
		}
	})
	return s
}

// get makes a request on a new connection.
func (s *server) get(path string) (*http.Response, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(s.base + path)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// slow starts a /slow request and waits until its handler runs.
func (s *server) slow(t *testing.T) <-chan string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		resp, body, err := s.get("/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- resp.Status + " " + body
	}()
	select {
	case <-s.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request did not reach its handler")
	}
	return got
}

func TestServeDrainsThenFinishesRequestsInFlight(t *testing.T) {
	t.Parallel()
	const drain = 500 * time.Millisecond
	s := start(t, Options{Drain: drain, Timeout: 5 * time.Second})
	if resp, _, err := s.get("/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ready before the signal: %v %v", resp, err)
	}
	// A keep-alive connection, idle when the drain starts, is closed.
	keepAlive := &http.Client{Transport: &http.Transport{}}
	resp, err := keepAlive.Get(s.base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	inFlight := s.slow(t)

	began := time.Now()
	s.cancel()
	deadline := time.Now().Add(drain / 2)
	for {
		resp, _, err := s.get("/ready")
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
			if !resp.Close {
				t.Error("a response during the drain does not close its connection")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready did not turn 503 at once: %v %v", resp, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// New connections are still served during the drain.
	second := s.slow(t)
	// Wait for the listener to close: the drain is over.
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.base, "http://"), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(began) > 5*time.Second {
			t.Fatal("the listener still accepts 5 s after the signal")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(began); took < drain {
		t.Errorf("connections refused %s after the signal, before the %s drain ended", took, drain)
	}
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned with requests in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(s.release)
	for _, c := range []<-chan string{inFlight, second} {
		if got := <-c; got != "200 OK done" {
			t.Errorf("request in flight at shutdown: %s", got)
		}
	}
	if err := <-s.done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestServeCutsOffAtTheTimeout(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Timeout: 200 * time.Millisecond})
	stuck := s.slow(t)
	s.cancel()
	select {
	case err := <-s.done:
		if err == nil || !strings.Contains(err.Error(), "cut off") {
			t.Errorf("Serve = %v, want an error saying requests were cut off", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not give up at the timeout")
	}
	if got := <-stuck; !strings.HasPrefix(got, "error") {
		t.Errorf("the request cut off at the timeout got %q", got)
	}
}

func TestServeReportsServeErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	err := Serve(t.Context(), &http.Server{}, &State{}, func() error { return boom }, Options{})
	if !errors.Is(err, boom) {
		t.Errorf("Serve = %v, want it to wrap %v", err, boom)
	}
}
