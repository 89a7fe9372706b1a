package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The keys of the Secret: the serving pair and ca.crt as cert-manager writes
// them, and ca.key so that every replica can sign the next serving
// certificate with the same CA.
const (
	CertKey   = corev1.TLSCertKey       // tls.crt: the serving certificate
	KeyKey    = corev1.TLSPrivateKeyKey // tls.key: its private key
	CAKey     = "ca.crt"                // the CA bundle: the current CA first
	CASignKey = "ca.key"                // the current CA's private key
)

// names are what the serving certificate must be valid for.
type names struct {
	dns []string
	ips []net.IP
}

// serviceNames are the names the apiserver dials a Service by, and extra
// DNS names or IP addresses (127.0.0.1 for a server run outside the
// cluster).
func serviceNames(service, namespace string, extra []string) names {
	n := names{dns: []string{
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}}
	for _, e := range extra {
		if ip := net.ParseIP(e); ip != nil {
			n.ips = append(n.ips, ip)
		} else {
			n.dns = append(n.dns, e)
		}
	}
	return n
}

// validity is how long newly issued certificates are valid.
type validity struct {
	ca, cert time.Duration
}

// renewAt is when a certificate is renewed: two thirds through its life,
// so that a third of it is left to retry in.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// renew decides whether the pair in a Secret's data can be served at time
// now. When it can, it returns data unchanged and an empty reason; when it
// cannot, it returns newly issued data and why. It keeps the CA while that
// is good and keeps trusting the CA that signed the certificate it
// replaces, so a CA rotation leaves no moment when a replica still serving
// the old certificate is not trusted.
func renew(data map[string][]byte, want names, v validity, now time.Time) (map[string][]byte, string, error) {
	ca, caKey, caErr := parseCA(data)
	reason := ""
	switch {
	case caErr != nil:
		reason = caErr.Error()
	case !now.Before(renewAt(ca)):
		reason = fmt.Sprintf("the CA expires at %s", ca.NotAfter.UTC().Format(time.RFC3339))
	default:
		reason = servingProblem(data, ca, want, now)
	}
	if reason == "" {
		return data, "", nil
	}

	var previous *x509.Certificate
	if old, err := parseServing(data); err == nil {
		previous = issuerOf(old.Leaf, data[CAKey])
	}
	if caErr != nil || !now.Before(renewAt(ca)) {
		var err error
		if ca, caKey, err = newCA(v.ca, now); err != nil {
			return nil, "", err
		}
	}
	cert, key, err := newServing(ca, caKey, want, v.cert, now)
	if err != nil {
		return nil, "", err
	}
	bundle := encodeCert(ca.Raw)
	if previous != nil && !previous.Equal(ca) && now.Before(previous.NotAfter) {
		bundle = append(bundle, encodeCert(previous.Raw)...)
	}
	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		return nil, "", err
	}
	return map[string][]byte{CertKey: cert, KeyKey: key, CAKey: bundle, CASignKey: caKeyPEM}, reason, nil
}

// servingProblem says why the serving certificate in data cannot be
// served, or "" when it can.
func servingProblem(data map[string][]byte, ca *x509.Certificate, want names, now time.Time) string {
	pair, err := parseServing(data)
	if err != nil {
		return err.Error()
	}
	cert := pair.Leaf
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return "the serving certificate is not signed by the CA in " + CAKey
	}
	for _, name := range want.hosts() {
		if err := cert.VerifyHostname(name); err != nil {
			return fmt.Sprintf("the serving certificate is not valid for %s", name)
		}
	}
	if !now.Before(renewAt(cert)) {
		return fmt.Sprintf("the serving certificate expires at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

func (n names) hosts() []string {
	hosts := append([]string(nil), n.dns...)
	for _, ip := range n.ips {
		hosts = append(hosts, ip.String())
	}
	return hosts
}

// parseCA reads the current CA, the first certificate of ca.crt, and its
// key.
func parseCA(data map[string][]byte) (*x509.Certificate, crypto.Signer, error) {
	if len(data[CAKey]) == 0 || len(data[CASignKey]) == 0 {
		return nil, nil, errors.New("there is no CA yet")
	}
	certs := parseBundle(data[CAKey])
	if len(certs) == 0 || !certs[0].IsCA {
		return nil, nil, fmt.Errorf("%s holds no CA certificate", CAKey)
	}
	block, _ := pem.Decode(data[CASignKey])
	if block == nil {
		return nil, nil, fmt.Errorf("%s holds no PEM key", CASignKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", CASignKey, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !publicKeysEqual(signer.Public(), certs[0].PublicKey) {
		return nil, nil, fmt.Errorf("%s is not the key of the CA in %s", CASignKey, CAKey)
	}
	return certs[0], signer, nil
}

// parseServing reads the serving pair, checking that key and certificate
// belong together.
func parseServing(data map[string][]byte) (*tls.Certificate, error) {
	if len(data[CertKey]) == 0 || len(data[KeyKey]) == 0 {
		return nil, errors.New("there is no serving certificate yet")
	}
	pair, err := tls.X509KeyPair(data[CertKey], data[KeyKey])
	if err != nil {
		return nil, fmt.Errorf("the serving pair is unusable: %v", err)
	}
	return &pair, nil // Go fills pair.Leaf
}

// parseBundle reads every certificate of a PEM bundle, skipping what is
// not one.
func parseBundle(bundle []byte) []*x509.Certificate {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return certs
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
}

// issuerOf finds the CA of bundle that signed cert.
func issuerOf(cert *x509.Certificate, bundle []byte) *x509.Certificate {
	for _, ca := range parseBundle(bundle) {
		if cert.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// newCA makes a self-signed CA. ECDSA P-256: every apiserver accepts it and
// it takes a millisecond to make.
func newCA(lifetime time.Duration, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := template("neo4j-backup-webhook-ca", lifetime, now)
	if err != nil {
		return nil, nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

// newServing makes a serving certificate for want signed by ca, valid no
// longer than ca, and returns it and its key in PEM.
func newServing(ca *x509.Certificate, caKey crypto.Signer, want names, lifetime time.Duration, now time.Time) (cert, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := template(want.dns[0], lifetime, now)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	tmpl.DNSNames, tmpl.IPAddresses = want.dns, want.ips
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(k)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// template is a certificate valid for lifetime from now, backdated by a
// tenth of that (at most an hour) for clocks a little behind ours.
func template(commonName string, lifetime time.Duration, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"neo4j-backup"}},
		NotBefore:    now.Add(-min(lifetime/10, time.Hour)),
		NotAfter:     now.Add(lifetime),
	}, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// served is a pair as it is served: the TLS certificate, the CA bundle the
// apiserver must trust for it, and when it is due for renewal.
type served struct {
	tls     tls.Certificate
	bundle  []byte
	renewAt time.Time
}

// load reads data that renew has passed.
func load(data map[string][]byte) (*served, error) {
	ca, _, err := parseCA(data)
	if err != nil {
		return nil, err
	}
	pair, err := parseServing(data)
	if err != nil {
		return nil, err
	}
	at := renewAt(ca)
	if r := renewAt(pair.Leaf); r.Before(at) {
		at = r
	}
	return &served{tls: *pair, bundle: bytes.Clone(data[CAKey]), renewAt: at}, nil
}
