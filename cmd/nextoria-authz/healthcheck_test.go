package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"ready", []string{"healthcheck", "--url", srv.URL + "/health/ready"}, "ok\n", ""},
		{"ready, JSON", []string{"healthcheck", "--json", "--url", srv.URL + "/health/ready"}, `{"status":"ok"}` + "\n", ""},
		{"not ready", []string{"healthcheck", "--url", srv.URL + "/draining"}, "", "503 Service Unavailable"},
		{"nobody listening", []string{"healthcheck", "--url", closed.URL + "/health/ready"}, "", "not healthy"},
		{"not a URL", []string{"healthcheck", "--url", "127.0.0.1:8080/health/ready"}, "", "must be an http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := runCLI(t, nil, "", tt.args...)
			if tt.wantErr == "" {
				if err != nil || out != tt.wantOut {
					t.Errorf("out, err = %q, %v; want %q", out, err, tt.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
