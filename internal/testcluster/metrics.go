package testcluster

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// MetricsAddr is the host:port of serve's --metrics-bind-address.
func (s *Serve) MetricsAddr() string { return s.metrics }

// Scrape is serve's /metrics as Prometheus reads it: the text format.
func (s *Serve) Scrape(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "http://" + s.metrics + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reading serve's metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reading serve's metrics: GET %s: %s (%v): %.2000s", url, resp.Status, err, body)
	}
	return string(body)
}
