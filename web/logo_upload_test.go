package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/apps/appstest"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/storage"
)

// registerWithLogo posts the registration form with logo as the logo file.
// It may run on any goroutine: failures are returned, not reported.
func (e *dbEnv) registerWithLogo(token, name string, logo []byte) (*http.Response, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fields := url.Values{"csrf_token": {token}, "name": {name}, "redirect_uris": {"https://globex.example/cb"},
		"scope": {"projects:read"}, "client_type": {"confidential"}}
	for k, vs := range fields {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if logo != nil {
		fw, _ := mw.CreateFormFile("logo", "logo.jpg")
		_, _ = fw.Write(logo)
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+pathApps, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// countApps is the number of apps in the signed-in user's workspace.
func (e *dbEnv) countApps(t *testing.T) int {
	t.Helper()
	app, err := e.store.GetApp(t.Context(), e.clientID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.store.ListApps(t.Context(), app.WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestParallelLogoUploads: 32 registrations with a costly logo at once.
// Each either succeeds or is refused with 429 or 503 (and Retry-After), and
// exactly the successful ones leave an app behind, with a logo under the
// stored-size cap.
func TestParallelLogoUploads(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t)
	logo := appstest.NoisyJPEG(apps.MaxLogoSide, apps.MaxLogoSide, 5)
	token := e.token(t, bindingAppRegister)
	before := e.countApps(t)

	const n = 32
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []error
		took     []time.Duration
	)
	began := time.Now()
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			resp, err := e.registerWithLogo(token, fmt.Sprintf("Parallel %d", i), logo)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			statuses[resp.StatusCode]++
			switch resp.StatusCode {
			case http.StatusSeeOther:
				took = append(took, time.Since(start))
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
					errs = append(errs, fmt.Errorf("status %d with Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After")))
				}
			default:
				errs = append(errs, fmt.Errorf("status %d", resp.StatusCode))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	t.Logf("statuses %v; successful uploads took %v", statuses, took)
	for _, err := range errs {
		t.Error(err)
	}
	// The burst, plus what the limit refilled while the uploads ran: on a
	// slow machine (the race detector on two cores) the last requests reach
	// the limiter seconds after the first.
	refilled := int(elapsed / (time.Minute / time.Duration(DefaultLogoUploads.Rate)))
	ok := statuses[http.StatusSeeOther]
	if ok == 0 || ok > DefaultLogoUploads.Burst+refilled {
		t.Errorf("%d uploads succeeded in %v, want 1 to %d (the per-user burst, and %d refilled)",
			ok, elapsed.Round(time.Millisecond), DefaultLogoUploads.Burst+refilled, refilled)
	}
	if created := e.countApps(t) - before; created != ok {
		t.Errorf("%d apps created for %d successful registrations", created, ok)
	}
	app, err := e.store.GetApp(t.Context(), e.clientID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.store.ListApps(t.Context(), app.WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.ClientID == e.clientID {
			continue
		}
		l, err := e.store.GetAppLogo(t.Context(), a.ClientID)
		if err != nil || len(l.Data) > apps.MaxStoredLogoBytes {
			t.Errorf("app %s: logo of %d bytes (%v), want at most %d", a.ClientID, len(l.Data), err, apps.MaxStoredLogoBytes)
		}
	}
}

// TestLogoUploadRateLimit: each user may upload a burst of logos, then is
// refused with 429 and Retry-After, and nothing is created; forms without a
// logo are not counted.
func TestLogoUploadRateLimit(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, func(c *Config) { c.LogoUploads = ratelimit.Limit{Rate: 1, Burst: 2} })
	token := e.token(t, bindingAppRegister)
	logo := appstest.PNG(64, 64)
	before := e.countApps(t)
	for i, tt := range []struct {
		logo []byte
		want int
	}{
		{logo, http.StatusSeeOther},
		{nil, http.StatusSeeOther},
		{logo, http.StatusSeeOther},
		{nil, http.StatusSeeOther},
		{logo, http.StatusTooManyRequests},
		{nil, http.StatusSeeOther},
	} {
		resp, err := e.registerWithLogo(token, fmt.Sprintf("App %d", i), tt.logo)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.want {
			t.Fatalf("registration %d (logo %v): status %d, want %d", i, tt.logo != nil, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After = %q, want 1..60 seconds", resp.Header.Get("Retry-After"))
			}
		}
	}
	if created := e.countApps(t) - before; created != 5 {
		t.Errorf("%d apps created, want 5", created)
	}
}

// busyApps is the app service with every image slot taken.
type busyApps struct{ AppService }

func (busyApps) Register(context.Context, apps.Registration) (storage.App, string, error) {
	return storage.App{}, "", fmt.Errorf("apps: register: %w", apps.ErrLogoBusy)
}

func (busyApps) Update(context.Context, string, apps.Update) (storage.App, error) {
	return storage.App{}, fmt.Errorf("apps: update: %w", apps.ErrLogoBusy)
}

// TestLogoUploadBusy: when no image slot frees up in time the form gets 503
// with Retry-After and the usual page, and nothing is logged as an error.
func TestLogoUploadBusy(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t, func(c *Config) { c.Apps = busyApps{c.Apps} })
	before := e.logs.count()
	resp, err := e.registerWithLogo(e.token(t, bindingAppRegister), "Busy", appstest.PNG(64, 64))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if errs := e.logs.since(before); len(errs) > 0 {
		t.Errorf("ERROR logged: %q", errs)
	}
}
