package backup

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/neo4j-backup/neo4j-backup/annotations"
	"github.com/neo4j-backup/neo4j-backup/internal/testcluster"
)

// Targets of the scale benchmark.
const (
	scaleNamespaces = 1000
	scaleTime       = 30 * time.Second
	scaleRSS        = 100 << 20
)

// BenchmarkScale starts `neo4j-backup serve`, built and run as a process of
// its own, on a real API server holding a thousand namespaces annotated with
// a schedule, each with a Neo4j StatefulSet of no replicas. It measures the
// time from the process's start until every namespace has its CronJob and
// its Created Event, and the process's peak resident memory (VmHWM), and
// fails above the targets. One run is one measurement, without -race (with
// it the harness builds serve with the race detector, which multiplies its
// memory and time):
//
//	go test ./backup -run '^$' -bench Scale -benchtime 1x
func BenchmarkScale(b *testing.B) {
	// A cluster of its own: the package's serve would make the CronJobs
	// before the clock starts, and a thousand namespaces would slow the
	// package's tests.
	c := testcluster.Start(b)
	kube := c.Kube
	ctx := context.Background()

	setup := time.Now()
	if err := createScaleNamespaces(ctx, kube, scaleNamespaces); err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d annotated namespaces with a Neo4j StatefulSet each in %v", scaleNamespaces, time.Since(setup).Round(time.Millisecond))
	testcluster.Binary(b) // built before the clock starts

	// Watch before serve starts, so no CronJob or Event is missed.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cronJobs, err := metadata.NewForConfigOrDie(c.Config).Resource(batchCronJobs).Namespace("").Watch(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy})
	if err != nil {
		b.Fatal(err)
	}
	defer cronJobs.Stop()
	events, err := kube.CoreV1().Events("").Watch(ctx, metav1.ListOptions{FieldSelector: "reason=" + ReasonCreated})
	if err != nil {
		b.Fatal(err)
	}
	defer events.Stop()

	b.ResetTimer()
	start := time.Now()
	serve := c.StartServe(b, "--image", testImage, "--default-destination", "s3://scale-backups/neo4j")
	allCronJobs, err := countAdded(ctx, cronJobs, scaleNamespaces)
	if err != nil {
		b.Fatalf("%d of %d CronJobs after %v: %v; serve's last lines:\n%s", allCronJobs, scaleNamespaces, time.Since(start).Round(time.Millisecond), err, serve.LogTail(20))
	}
	toCronJobs := time.Since(start)
	if n, err := countAdded(ctx, events, scaleNamespaces); err != nil {
		b.Fatalf("%d of %d Created Events after %v: %v", n, scaleNamespaces, time.Since(start).Round(time.Millisecond), err)
	}
	toEvents := time.Since(start)
	b.StopTimer()

	peak, err := peakRSS(serve.Pid())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(toCronJobs.Seconds(), "s-to-all-cronjobs")
	b.ReportMetric(toEvents.Seconds(), "s-to-all-events")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.Logf("serve: %d CronJobs in %v, their Events in %v, peak RSS %.1f MiB", scaleNamespaces, toCronJobs.Round(time.Millisecond), toEvents.Round(time.Millisecond), float64(peak)/(1<<20))
	if toCronJobs > scaleTime {
		b.Errorf("%d CronJobs took %v, over the target of %v", scaleNamespaces, toCronJobs, scaleTime)
	}
	if peak > scaleRSS {
		b.Errorf("serve's peak RSS was %.1f MiB, over the target of %d MiB", float64(peak)/(1<<20), scaleRSS>>20)
	}
}

var batchCronJobs = batchv1.SchemeGroupVersion.WithResource("cronjobs")

// createScaleNamespaces makes n namespaces annotated with a schedule, each
// with a Neo4j StatefulSet, a few at a time.
func createScaleNamespaces(ctx context.Context, kube *kubernetes.Clientset, n int) error {
	names := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annotations.Schedule: "0 3 * * *"}}}
				if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				if _, err := kube.AppsV1().StatefulSets(name).Create(ctx, neo4jStatefulSet("graph", "neo4j:5.26.0-enterprise"), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
send:
	for i := range n {
		select {
		case names <- fmt.Sprintf("scale-%04d", i):
		case err = <-errs:
			break send
		}
	}
	close(names)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

// countAdded counts the objects a watch adds until there are n.
func countAdded(ctx context.Context, w watch.Interface, n int) (int, error) {
	seen := 0
	for seen < n {
		select {
		case <-ctx.Done():
			return seen, ctx.Err()
		case e, ok := <-w.ResultChan():
			if !ok {
				return seen, fmt.Errorf("the watch ended")
			}
			if e.Type == watch.Added {
				seen++
			}
		}
	}
	return seen, nil
}

// peakRSS is a process's peak resident set size, VmHWM in /proc.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
