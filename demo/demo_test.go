package main

import (
	"context"
	"testing"
	"time"
)

// TestDemo runs `make demo` non-interactively: the whole walk-through must
// succeed on a fresh machine, as the README promises.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		t.Fatalf("the demo failed: %v", err)
	}
}
