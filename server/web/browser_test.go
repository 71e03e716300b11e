package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/auth"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/store"
	"github.com/chromedp/chromedp"
)

// authAdapter is cmd/byoi's: the auth package's Check as server/http's
// Authenticator.
type authAdapter struct{ a *auth.Authenticator }

func (x authAdapter) CheckHeaders(r *nethttp.Request) error { return x.a.CheckHeaders(r) }

func (x authAdapter) Authenticate(r *nethttp.Request, body []byte) (byoihttp.Principal, error) {
	id, kind, err := x.a.Check(r, body)
	return byoihttp.Principal{CredentialID: id, Kind: kind}, err
}

// chromium finds Debian's chromium; without it the test fails under
// BYOI_INTEGRATION=1 (CI) and is skipped elsewhere.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("BYOI_INTEGRATION") == "1" {
		t.Fatal("chromium is not installed: scripts/install-deps.sh test installs it")
	}
	t.Skip("chromium is not installed (scripts/install-deps.sh test)")
	return ""
}

// artifactsDir is where the screenshots go: $BYOI_ARTIFACTS, else
// server/web/artifacts/<time>/ (git-ignored).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("BYOI_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("artifacts", time.Now().UTC().Format("20060102T150405Z"))
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeAgent is an installer that reports over the real agent API with the
// token the real boot plane handed out.
type fakeAgent struct {
	t     *testing.T
	base  string
	token string
}

var tokenRE = regexp.MustCompile(`byoi\.token=(\S+)`)

func bootAgent(t *testing.T, base, mac string) *fakeAgent {
	t.Helper()
	resp, err := nethttp.Get(base + "/ipxe/machine?mac=" + mac + "&platform=efi&buildarch=x86_64")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := tokenRE.FindSubmatch(script)
	if m == nil {
		t.Fatalf("boot script has no installer token:\n%s", script)
	}
	a := &fakeAgent{t: t, base: base, token: string(m[1])}
	if code := a.call("GET", agentapi.PathTask, nil); code != 200 {
		t.Fatalf("agent GET task = %d", code)
	}
	return a
}

func (a *fakeAgent) call(method, path string, body any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := nethttp.NewRequest(method, a.base+path, r)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (a *fakeAgent) progress(p agentapi.Progress) int {
	return a.call("POST", agentapi.PathProgress, p)
}

// checkScreenshot decodes a PNG screenshot, saves it and checks it is a
// picture of the given size with content (not one flat colour).
func checkScreenshot(t *testing.T, dir, name string, buf []byte, w, h int) {
	t.Helper()
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	b := img.Bounds()
	if b.Dx() < w || b.Dy() < h/2 {
		t.Errorf("screenshot %s is %dx%d, want about %dx%d", name, b.Dx(), b.Dy(), w, h)
	}
	colours := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 8 {
		t.Errorf("screenshot %s has %d colours: a blank page?", name, len(colours))
	}
	t.Logf("screenshot %s: %s (%dx%d, %d colours)", name, path, b.Dx(), b.Dy(), len(colours))
}

// shotPNG takes a full-page screenshot of the current page and checks it.
func shotPNG(t *testing.T, ctx context.Context, dir, name string, width int) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	checkScreenshot(t, dir, name, buf, width, 400)
}

// TestBrowser drives the UI in a real headless Chromium: log in, see the
// fleet, deploy with confirmation, follow the installer's progress live
// while a fake agent reports over the real agent API, cancel, and a form
// post without the CSRF token refused; on a desktop and a phone screen.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, err := auth.NewKeyring(bytes.Repeat([]byte{3}, auth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(st, kr, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := auth.IssueToken(ctx, st, "admin", auth.Grant{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := byoihttp.New(byoihttp.Config{Auth: authAdapter{a}, Credentials: a.Credentials(), FilesDir: t.TempDir()}, st)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for i, name := range []string{"rack1-07", "rack1-08", "rack2-01"} {
		if _, err := st.CreateMachine(ctx, boot.Machine{Name: name, MACs: []string{fmt.Sprintf("52:54:00:12:34:%02x", 0x56+i)}}); err != nil {
			t.Fatal(err)
		}
	}
	art := artifactsDir(t)

	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()

	// Start the browser on bctx itself: a browser started on a derived
	// context would end with it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	must := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			hctx, cancel := context.WithTimeout(bctx, 5*time.Second)
			defer cancel()
			html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("html")))
			t.Fatalf("%s: %v\npage:\n%s", what, err, html)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return strings.TrimSpace(v)
	}
	text := func(sel string) string {
		t.Helper()
		return get("read "+sel, chromedp.Text(chromedp.CSS(sel)))
	}
	eval := func(expr string, opts ...chromedp.EvaluateOption) any {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[any](expr, opts...))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("%s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Log in: the fleet asks for it first.
	must("open the fleet", chromedp.Navigate(hs.URL+"/ui/"), chromedp.WaitVisible(css("#token")))
	if url := get("location", chromedp.Location()); !strings.Contains(url, "/ui/login?next=") {
		t.Errorf("not logged in: landed on %s, want the login page", url)
	}
	must("log in", chromedp.SendKeys(css("#token"), admin.Token), chromedp.Submit(css("#login")))
	must("fleet page", chromedp.WaitVisible(css("#fleet-table")))
	if rows := eval(`document.querySelectorAll("tr.machine").length`); rows != float64(3) || !strings.Contains(text(`tr[data-machine="rack1-07"]`), "new") {
		t.Errorf("fleet shows %v machines (%q), want 3, rack1-07 new", rows, text(`tr[data-machine="rack1-07"]`))
	}
	shotPNG(t, bctx, art, "fleet-desktop", 1280)

	// Deploy, with a confirmation page in between.
	must("deploy form", chromedp.Navigate(hs.URL+"/ui/machines/rack1-07/deploy"), chromedp.WaitVisible(css("#imageURL")),
		chromedp.SendKeys(css("#imageURL"), "http://198.51.100.9/debian-12.qcow2"),
		chromedp.Submit(css("#deploy")))
	must("confirmation page", chromedp.WaitVisible(css("#confirm-button")))
	if q := text(".question"); q != "Install http://198.51.100.9/debian-12.qcow2 on rack1-07?" {
		t.Errorf("confirmation asks %q", q)
	}
	if ts, _ := st.Tasks(ctx, "rack1-07"); len(ts) != 0 {
		t.Fatal("a task exists before the deployment was confirmed")
	}
	must("confirm", chromedp.Click(css("#confirm-button")))
	must("task page", chromedp.WaitVisible(css("#task")))
	if s := text("#task-status"); s != "waiting" {
		t.Errorf("task status after deploy = %q, want waiting", s)
	}
	if w := text("#waiting-note"); !strings.Contains(w, "has not PXE-booted yet") {
		t.Errorf("waiting note = %q", w)
	}
	must("live", poll("live badge", `document.getElementById("live-status").textContent === "live"`))

	// The machine boots; its installer reports; the page follows live.
	agent := bootAgent(t, hs.URL, "52:54:00:12:34:56")
	for _, p := range []agentapi.Progress{{Step: boot.StepDownload, Status: boot.StepDone}, {Step: boot.StepCheck, Status: boot.StepDone}} {
		if code := agent.progress(p); code != 204 {
			t.Fatalf("progress = %d", code)
		}
	}
	for _, pct := range []int64{25, 60} {
		if code := agent.progress(agentapi.Progress{Step: boot.StepWrite, Status: boot.StepDoing, BytesDone: pct << 24, BytesTotal: 100 << 24}); code != 204 {
			t.Fatalf("progress = %d", code)
		}
		want := fmt.Sprintf("%d%%", pct)
		must("live progress "+want, poll("progress "+want, fmt.Sprintf(`(document.getElementById("step-pct")||{}).textContent === %q`, want)))
	}
	if s := text("#task-status"); s != "installing" {
		t.Errorf("task status while writing = %q, want installing", s)
	}
	// Program output arrives: the page shows it live, control characters
	// (a carriage return that would smuggle an event in) made harmless.
	if n := text("#log-note"); !strings.Contains(n, "no output yet") {
		t.Errorf("log note before any output = %q", n)
	}
	for i, lines := range [][]string{
		{"mdadm: array /dev/md0 started.", "mke2fs 1.47.2 (1-Jan-2025)"},
		{"Installing for x86_64-efi platform.", "x\revent: logout\rdata: <b>bold</b>", "Installation finished. No error reported."},
	} {
		seq := int64(2 * i)
		if code := agent.call("POST", agentapi.PathLog, agentapi.Log{Step: boot.StepWrite, Seq: seq, Lines: lines, Stream: "make_image_bootable.sh"}); code != 204 {
			t.Fatalf("agent log = %d", code)
		}
		last := lines[len(lines)-1]
		must("live log "+last, poll("log line", fmt.Sprintf(`Array.from(document.querySelectorAll("#log-lines .line")).some(l => l.textContent === %q)`, last)))
	}
	got := eval(`Array.from(document.querySelectorAll("#log-lines .line")).map(l => l.textContent).join("\n")`)
	want := "mdadm: array /dev/md0 started.\nmke2fs 1.47.2 (1-Jan-2025)\nInstalling for x86_64-efi platform.\nx\uFFFDevent: logout\uFFFDdata: <b>bold</b>\nInstallation finished. No error reported."
	if got != want {
		t.Errorf("log on the page = %q, want %q", got, want)
	}
	if n := eval(`document.querySelectorAll("#log b").length`); n != float64(0) {
		t.Errorf("log text became %v HTML elements, want text", n)
	}
	if url := get("location", chromedp.Location()); !strings.Contains(url, "/ui/machines/rack1-07") {
		t.Errorf("page after the output = %s, want still the machine page", url)
	}
	shotPNG(t, bctx, art, "machine-installing", 1280)

	// The fleet shows the progress too.
	must("fleet again", chromedp.Navigate(hs.URL+"/ui/"), chromedp.WaitVisible(css("#fleet-table")))
	if row := text(`tr[data-machine="rack1-07"]`); !strings.Contains(row, "installing") || !strings.Contains(row, "4/8 Writing image to disk") {
		t.Errorf("fleet row while installing = %q", row)
	}

	// A form post without the CSRF token, from the logged-in page: refused.
	status := eval(`fetch("/ui/machines/rack1-08/deploy", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "imageURL=http%3A%2F%2F198.51.100.9%2Fx.raw&imageType=raw&confirmed=yes"}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != float64(403) {
		t.Errorf("POST without the CSRF token = %v, want 403", status)
	}
	if ts, _ := st.Tasks(ctx, "rack1-08"); len(ts) != 0 {
		t.Errorf("the refused post created a task: %+v", ts)
	}

	// Cancel, confirmed.
	// The live parts replace the button's node when their first events
	// arrive: the click looks the button up when it happens.
	must("cancel", chromedp.Navigate(hs.URL+"/ui/machines/rack1-07"), chromedp.WaitVisible(css("#cancel")))
	eval(`document.getElementById("cancel").click()`)
	must("cancel confirmation", chromedp.WaitVisible(css("#confirm-button")), chromedp.Click(css("#confirm-button")))
	must("after cancel", chromedp.WaitVisible(css(".flash")), poll("cancelled", `(document.getElementById("task-status")||{}).textContent === "cancelled"`))
	if code := agent.progress(agentapi.Progress{Step: boot.StepWrite, Status: boot.StepDoing, BytesDone: 1, BytesTotal: 2}); code != 401 {
		t.Errorf("agent report after cancel = %d, want 401", code)
	}
	if f := text(".flash"); !strings.Contains(f, "cancelled") {
		t.Errorf("flash after cancel = %q", f)
	}
	shotPNG(t, bctx, art, "machine-cancelled", 1280)

	// A phone: the fleet as cards, no sideways scrolling.
	must("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(hs.URL+"/ui/"), chromedp.WaitVisible(css("#fleet-table")))
	thead := eval(`getComputedStyle(document.querySelector("#fleet-table thead")).display`)
	overflow := eval(`document.documentElement.scrollWidth > window.innerWidth + 1`)
	if thead != "none" || overflow != false {
		t.Errorf("phone layout: table head display %v, page wider than the screen %v; want cards without sideways scrolling", thead, overflow)
	}
	shotPNG(t, bctx, art, "fleet-phone", 390)
}
