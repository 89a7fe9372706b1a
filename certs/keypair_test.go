package certs

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var (
	start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want  = serviceNames("neo4j-backup-webhook", "neo4j-backup", []string{"127.0.0.1", "webhook.example"})
	short = validity{ca: 300 * time.Hour, cert: 30 * time.Hour}
)

// issue is renew from an empty Secret, failing the test on error.
func issue(t *testing.T, data map[string][]byte, names names, at time.Time) (map[string][]byte, string) {
	t.Helper()
	out, reason, err := renew(data, names, short, at)
	if err != nil {
		t.Fatal(err)
	}
	return out, reason
}

// verify checks that the serving certificate in data chains to its ca.crt
// for every name and returns the serving certificate.
func verify(t *testing.T, data map[string][]byte, names names, at time.Time) *x509.Certificate {
	t.Helper()
	s, err := load(data)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data[CAKey]) {
		t.Fatalf("%s holds no certificate", CAKey)
	}
	for _, host := range names.hosts() {
		if _, err := s.tls.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: at}); err != nil {
			t.Errorf("the serving certificate does not verify for %s against %s: %v", host, CAKey, err)
		}
	}
	return s.tls.Leaf
}

func TestRenewIssuesForAnEmptySecret(t *testing.T) {
	data, reason := issue(t, nil, want, start)
	if reason != "there is no CA yet" {
		t.Errorf("reason = %q, want there is no CA yet", reason)
	}
	cert := verify(t, data, want, start)
	if got := cert.NotAfter.Sub(start); got != short.cert {
		t.Errorf("the serving certificate is valid for %s, want %s", got, short.cert)
	}
	if len(parseBundle(data[CAKey])) != 1 {
		t.Errorf("%s holds %d certificates, want the CA alone", CAKey, len(parseBundle(data[CAKey])))
	}
}

// A pair is kept until two thirds of its life, then the serving
// certificate is renewed with the same CA, so the caBundle stays as it is.
func TestRenewKeepsThenRenewsTheServingCertificate(t *testing.T) {
	data, _ := issue(t, nil, want, start)
	first := verify(t, data, want, start)
	renewal := renewAt(first)
	if lifeLeft := first.NotAfter.Sub(renewal); lifeLeft < short.cert/3 {
		t.Errorf("renewed %s before expiry, want at least a third of %s", lifeLeft, short.cert)
	}

	for _, at := range []time.Time{start, start.Add(short.cert / 2), renewal.Add(-time.Second)} {
		kept, reason := issue(t, data, want, at)
		if reason != "" || !bytes.Equal(kept[CertKey], data[CertKey]) {
			t.Errorf("at %s the pair was renewed (%s); want it kept until %s", at, reason, renewal)
		}
	}

	renewed, reason := issue(t, data, want, renewal)
	if !strings.HasPrefix(reason, "the serving certificate expires at ") {
		t.Errorf("reason = %q, want the serving certificate's expiry", reason)
	}
	second := verify(t, renewed, want, renewal)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("the renewed certificate has the old serial")
	}
	if !bytes.Equal(renewed[CAKey], data[CAKey]) || !bytes.Equal(renewed[CASignKey], data[CASignKey]) {
		t.Error("renewing the serving certificate changed the CA; the caBundle would have to change with it")
	}
}

// When the CA is due, the new bundle trusts both the new CA and the old
// one, so replicas still serving the old certificate stay trusted until
// they read the new one; the old CA leaves at the next renewal.
func TestRenewRotatesTheCAKeepingTheOldOneTrusted(t *testing.T) {
	data, _ := issue(t, nil, want, start)
	oldCA, _, _ := parseCA(data)

	// Renew the serving certificate until the CA is due.
	at := start
	for renewAt(verify(t, data, want, at)).Before(renewAt(oldCA)) {
		at = renewAt(verify(t, data, want, at))
		data, _ = issue(t, data, want, at)
	}
	servedBefore := verify(t, data, want, at)
	at = renewAt(oldCA)
	rotated, reason := issue(t, data, want, at)
	if !strings.HasPrefix(reason, "the CA expires at ") {
		t.Fatalf("reason = %q, want the CA's expiry", reason)
	}
	newCA, _, err := parseCA(rotated)
	if err != nil {
		t.Fatal(err)
	}
	bundle := parseBundle(rotated[CAKey])
	if len(bundle) != 2 || !bundle[0].Equal(newCA) || !bundle[1].Equal(oldCA) {
		t.Fatalf("after the CA rotation %s holds %d certificates, want the new CA then the old one", CAKey, len(bundle))
	}
	verify(t, rotated, want, at)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rotated[CAKey])
	if _, err := servedBefore.Verify(x509.VerifyOptions{DNSName: want.dns[0], Roots: roots, CurrentTime: at}); err != nil {
		t.Errorf("the certificate served before the rotation is no longer trusted by the new bundle: %v", err)
	}

	next, _ := issue(t, rotated, want, renewAt(verify(t, rotated, want, at)))
	if got := parseBundle(next[CAKey]); len(got) != 1 || !got[0].Equal(newCA) {
		t.Errorf("at the next serving renewal %s holds %d certificates, want only the new CA", CAKey, len(got))
	}
}

func TestRenewRepairsWhatItCannotServe(t *testing.T) {
	data, _ := issue(t, nil, want, start)
	other, _ := issue(t, nil, want, start)
	// with is data with some keys taken from other.
	with := func(keys ...string) map[string][]byte {
		d := map[string][]byte{}
		for k, v := range data {
			d[k] = v
		}
		for _, k := range keys {
			d[k] = other[k]
		}
		return d
	}
	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		names   names
		reason  string
		sameCA  bool
		bundled int
	}{
		{"a name was added", data, serviceNames("neo4j-backup-webhook", "neo4j-backup", []string{"10.0.0.7"}),
			"the serving certificate is not valid for 10.0.0.7", true, 1},
		{"the serving key is another's", with(KeyKey), want,
			"the serving pair is unusable: tls: private key does not match public key", true, 1},
		{"the serving certificate is another CA's", with(CertKey, KeyKey), want,
			"the serving certificate is not signed by the CA in ca.crt", true, 1},
		{"the CA key is another's", with(CASignKey), want,
			"ca.key is not the key of the CA in ca.crt", false, 2},
		{"the CA is garbage", map[string][]byte{CertKey: data[CertKey], KeyKey: data[KeyKey], CAKey: []byte("not PEM"), CASignKey: data[CASignKey]}, want,
			"ca.crt holds no CA certificate", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, reason := issue(t, tc.data, tc.names, start)
			if reason != tc.reason {
				t.Errorf("reason = %q, want %q", reason, tc.reason)
			}
			verify(t, out, tc.names, start)
			if same := bytes.Equal(out[CASignKey], data[CASignKey]); same != tc.sameCA {
				t.Errorf("CA kept = %v, want %v", same, tc.sameCA)
			}
			if n := len(parseBundle(out[CAKey])); n != tc.bundled {
				t.Errorf("%s holds %d certificates, want %d", CAKey, n, tc.bundled)
			}
		})
	}
}

// A serving certificate never outlives its CA.
func TestRenewCapsTheServingCertificateAtTheCA(t *testing.T) {
	out, _, err := renew(nil, want, validity{ca: time.Hour, cert: 24 * time.Hour}, start)
	if err != nil {
		t.Fatal(err)
	}
	ca, _, _ := parseCA(out)
	if cert := verify(t, out, want, start); !cert.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("the serving certificate expires at %s, after its CA at %s", cert.NotAfter, ca.NotAfter)
	}
}
