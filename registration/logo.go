package registration

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"syscall"
	"time"

	"github.com/nextoria/authz/apps"
)

// Limits of a logo_uri fetch.
const (
	// LogoFetchTimeout bounds the whole fetch: dialling, TLS, redirects and
	// the body.
	LogoFetchTimeout = 5 * time.Second
	// MaxLogoRedirects is how many redirects a fetch follows; each target is
	// checked again.
	MaxLogoRedirects = 3
)

// logoTypes are the content types a logo may be served as (those package
// apps decodes).
var logoTypes = []string{"image/png", "image/jpeg", "image/webp"}

// errForbiddenAddress is returned by the dialer's Control for an address the
// fetcher must not reach.
var errForbiddenAddress = errors.New("the address is not a public internet address")

// LogoFetcher fetches a client's logo_uri once, at registration, with strict
// limits: https only (redirects too, at most MaxLogoRedirects), at most
// apps.MaxLogoBytes, LogoFetchTimeout in all, no proxy, and never to a
// loopback, private, link-local, multicast or otherwise non-public address.
// The address is checked in the dialer's Control, on the IP actually dialled,
// so a name that resolves (or rebinds) to a private address is refused too.
type LogoFetcher struct {
	client *http.Client
}

// LogoFetcherOptions adjust a LogoFetcher, for tests.
type LogoFetcherOptions struct {
	// AllowAddress, when set, admits addresses the fetcher would refuse,
	// e.g. the loopback address of a test server. Production leaves it nil.
	AllowAddress func(netip.Addr) bool
	// RootCAs are the trusted roots; nil means the system's.
	TLSConfig *tls.Config
}

// NewLogoFetcher returns a fetcher with the limits above.
func NewLogoFetcher(opts LogoFetcherOptions) *LogoFetcher {
	dialer := &net.Dialer{
		Timeout: LogoFetchTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q", errForbiddenAddress, address)
			}
			addr := ap.Addr().Unmap()
			if opts.AllowAddress != nil && opts.AllowAddress(addr) {
				return nil
			}
			if !PublicAddress(addr) {
				return fmt.Errorf("%w: %s", errForbiddenAddress, addr)
			}
			return nil
		},
	}
	tlsConfig := opts.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	transport := &http.Transport{
		Proxy:                  nil, // never through a proxy, which would dial for us
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    LogoFetchTimeout,
		ResponseHeaderTimeout:  LogoFetchTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
		ForceAttemptHTTP2:      true,
	}
	return &LogoFetcher{client: &http.Client{
		Transport: transport,
		Timeout:   LogoFetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxLogoRedirects {
				return fmt.Errorf("more than %d redirects", MaxLogoRedirects)
			}
			if req.URL.Scheme != "https" {
				return errors.New("a redirect leaves https")
			}
			return nil
		},
	}}
}

// nonPublic lists ranges that netip's predicates do not cover but that are
// not the public internet either.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may map to a private IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
}

// PublicAddress reports whether a may be fetched from: a global unicast
// address outside the private, loopback, link-local, multicast and reserved
// ranges.
func PublicAddress(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() ||
		a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Fetch downloads the image at rawURL. The error's message is fit for a
// client: it says what was wrong without internal detail.
func (f *LogoFetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, errors.New("must be an https:// address of an image")
	}
	ctx, cancel := context.WithTimeout(ctx, LogoFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errors.New("must be an https:// address of an image")
	}
	req.Header.Set("Accept", "image/png, image/jpeg, image/webp")
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, errForbiddenAddress) {
			return nil, errors.New("could not be fetched: it points at an address that is not on the public internet")
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("could not be fetched within %v", LogoFetchTimeout)
		}
		return nil, errors.New("could not be fetched over https (at most 3 redirects, each to https)")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("could not be fetched: the server answered %d", resp.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !slices.Contains(logoTypes, mt) {
		return nil, errors.New("must serve a PNG, JPEG or WebP image (Content-Type image/png, image/jpeg or image/webp)")
	}
	if resp.ContentLength > apps.MaxLogoBytes {
		return nil, apps.ErrLogoTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, apps.MaxLogoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("could not be fetched within %v", LogoFetchTimeout)
	}
	if len(data) > apps.MaxLogoBytes {
		return nil, apps.ErrLogoTooLarge
	}
	return data, nil
}
