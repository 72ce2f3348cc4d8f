package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nextoria/authz/storage"
)

// LoginThrottlePolicy sets how sign-in attempts are counted, under three
// kinds of key (see throttleSignIn for why these three, and in this order).
type LoginThrottlePolicy struct {
	// IP counts every attempt from one client address, whatever the
	// account: it stops one machine from trying a few passwords on many
	// accounts (password spraying).
	IP storage.LoginThrottleRule
	// AccountIP counts attempts on one account from one client address: the
	// budget of a person who mistypes their password, and the first brake
	// on an attacker guessing it.
	AccountIP storage.LoginThrottleRule
	// Account counts attempts on one account from anywhere: it slows an
	// attack on one account spread over many addresses.
	Account storage.LoginThrottleRule
}

// DefaultLoginThrottle is the policy used when Config.LoginThrottle is zero:
// 5 attempts per account and address, 20 per account and 100 per address in
// a 15-minute window; past a limit, waits from 1 second, doubling with every
// attempt counted, up to 15 minutes.
var DefaultLoginThrottle = LoginThrottlePolicy{
	IP:        storage.LoginThrottleRule{Limit: 100, Window: 15 * time.Minute, BaseDelay: time.Second, MaxDelay: 15 * time.Minute},
	AccountIP: storage.LoginThrottleRule{Limit: 5, Window: 15 * time.Minute, BaseDelay: time.Second, MaxDelay: 15 * time.Minute},
	Account:   storage.LoginThrottleRule{Limit: 20, Window: 15 * time.Minute, BaseDelay: time.Second, MaxDelay: 15 * time.Minute},
}

func (p LoginThrottlePolicy) validate() error {
	var errs []error
	for name, r := range map[string]storage.LoginThrottleRule{"ip": p.IP, "account and ip": p.AccountIP, "account": p.Account} {
		switch {
		case r.Limit < 1:
			errs = append(errs, fmt.Errorf("%s: limit %d: want at least 1", name, r.Limit))
		case r.Window <= 0 || r.Window > storage.MaxLoginThrottleWindow:
			errs = append(errs, fmt.Errorf("%s: window %v: want more than 0 and at most %v", name, r.Window, storage.MaxLoginThrottleWindow))
		case r.BaseDelay <= 0 || r.MaxDelay < r.BaseDelay:
			errs = append(errs, fmt.Errorf("%s: delays %v to %v: want 0 < base <= max", name, r.BaseDelay, r.MaxDelay))
		}
	}
	return errors.Join(errs...)
}

// throttleKeys are the login_throttle keys of one attempt. The e-mail
// address appears only as the SHA-256 of its lower-case form, so the table
// holds no address in clear.
type throttleKeys struct {
	ip, accountIP, account string
}

func newThrottleKeys(email string, client netip.Addr) throttleKeys {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	acct := hex.EncodeToString(sum[:])
	addr := throttleAddr(client)
	return throttleKeys{
		ip:        "ip:" + addr,
		accountIP: "acctip:" + acct + "|" + addr,
		account:   "acct:" + acct,
	}
}

// throttleAddr is how a client address appears in throttle keys. An IPv6
// client counts by its /64, the block one subscriber usually gets, so that
// hopping between the addresses of one's own block buys no new attempts.
func throttleAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// clientAddr is the address sign-in attempts are counted under: the
// connection's peer or, behind a trusted proxy (Config.TrustProxyHeaders),
// the last X-Forwarded-For entry, the one that proxy appended itself; the
// entries before it are whatever the client sent and prove nothing. The
// zero Addr when neither can be read.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	a, forwarded := s.requestAddr(r)
	if s.trustXFF && !forwarded {
		s.log.WarnContext(r.Context(), "no usable X-Forwarded-For from the trusted proxy; counting the peer address")
	}
	return a
}

// requestAddr is the client address of r as clientAddr finds it, quietly;
// forwarded reports that it came from the trusted proxy's X-Forwarded-For.
func (s *Server) requestAddr(r *http.Request) (a netip.Addr, forwarded bool) {
	if s.trustXFF {
		if a, ok := lastForwardedFor(r.Header); ok {
			return a, true
		}
	}
	return peerAddr(r), false
}

// peerAddr is the address of the connection's peer; the zero Addr when it
// cannot be read.
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a
}

// lastForwardedFor parses the last entry of the last X-Forwarded-For header,
// with or without a port.
func lastForwardedFor(h http.Header) (netip.Addr, bool) {
	values := h.Values("X-Forwarded-For")
	if len(values) == 0 {
		return netip.Addr{}, false
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimSpace(last)
	if a, err := netip.ParseAddr(last); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(last); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

// throttleSignIn counts a sign-in attempt, before its password is checked
// (a refused attempt costs no argon2id), and reports whether it may
// proceed; when not, how long the refusing lock lasts. The keys are counted
// in this order, stopping at the first that refuses:
//
//  1. ip: a client address that is locked gets nothing further counted, so
//     one machine cannot use its refused attempts to lock out others.
//  2. acctip: the account from this address. A person who mistypes their
//     password meets this limit (5) first, and only from where they are.
//  3. acct: the account from anywhere, counted only for attempts the
//     acctip limit let through. With the default rules one attacker at one
//     address gets at most 10 attempts through acctip (5, then one after
//     each of the locks of 1 s, 4 s, 16 s, 64 s and 256 s, waiting them out
//     exactly) before a 15-minute lock, outlasting the window; acct's limit
//     is 20, so one attacker alone cannot lock the account, and the real
//     user's own address keeps its own acctip budget, untouched by the
//     attacker's. Only an attack spread over several addresses reaches the
//     acct limit, and then it is slowed for everyone, which is the point.
//
// No lock is permanent, so nobody is locked out for good (see
// storage.CountLoginAttempts): attempts refused during a lock are counted but
// do not extend it, so every lock ends at most MaxDelay (15 minutes) after
// it was set, however hard an attacker keeps trying; the first attempt after
// it proceeds; and once the window has passed with no lock pending the key
// starts afresh. A real user who is told to wait gets back in by trying
// again after the Retry-After the page gives (never more than 15 minutes);
// a successful sign-in then clears their acctip and acct counts. Under a
// lasting attack spread over many addresses the acct lock keeps coming
// back, but each one still ends within 15 minutes.
//
// When the attempt is refused by a lock it set itself (the first refusal of
// that lock), lockStarted names the kind of key that locked ("ip",
// "acctip" or "acct"); the sign-in log records that refusal only.
func (s *Server) throttleSignIn(ctx context.Context, keys throttleKeys) (wait time.Duration, ok bool, lockStarted string, err error) {
	kinds := [...]string{"ip", "acctip", "acct"}
	counted, err := s.store.CountLoginAttempts(ctx,
		storage.LoginKey{Key: keys.ip, Rule: s.throttle.IP},
		storage.LoginKey{Key: keys.accountIP, Rule: s.throttle.AccountIP},
		storage.LoginKey{Key: keys.account, Rule: s.throttle.Account},
	)
	if err != nil {
		return 0, false, "", err
	}
	// Counting stops at the first key that refuses the attempt.
	a := counted[len(counted)-1]
	if a.Allowed {
		return 0, true, "", nil
	}
	kind := kinds[len(counted)-1]
	s.log.WarnContext(ctx, "sign-in throttled", "throttle", kind, "attempts", a.Attempts, "retry_after", a.RetryAfter)
	if a.LockStarted {
		lockStarted = kind
	}
	return a.RetryAfter, false, lockStarted, nil
}

// retryAfterSeconds is the Retry-After of a refused sign-in: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(int(math.Ceil(d.Seconds())), 1)
}

// msgThrottled is the one answer to a throttled sign-in, whether or not the
// account exists. Waits over a minute and a half are given in minutes,
// rounded up.
func msgThrottled(seconds int) string {
	wait := strconv.Itoa(seconds) + " seconds"
	switch {
	case seconds == 1:
		wait = "1 second"
	case seconds > 90:
		wait = strconv.Itoa((seconds+59)/60) + " minutes"
	}
	return "Too many sign-in attempts. Try again in " + wait + "."
}
