package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/byoi/byoi/boot"
)

// deployData is the deploy form's values.
type deployData struct {
	Machine                             string
	ImageURL, ImageType, Checksum       string
	EFIBootloaderPath, Hostname, SSHKey string
	UserData                            string
}

func deployFrom(r *http.Request, name string) deployData {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return deployData{Machine: name, ImageURL: f("imageURL"), ImageType: f("imageType"), Checksum: f("checksum"),
		EFIBootloaderPath: f("efiBootloaderPath"), Hostname: f("hostname"), SSHKey: f("sshKey"), UserData: r.PostFormValue("userData")}
}

// spec builds the install request; the lifecycle validates it with the
// API's messages.
func (d deployData) spec() (boot.InstallSpec, error) {
	s := boot.InstallSpec{OperatingSystem: boot.OSBYOI, ImageURL: d.ImageURL, ImageType: d.ImageType,
		EFIBootloaderPath: d.EFIBootloaderPath, Hostname: d.Hostname, SSHKey: d.SSHKey, ConfigDriveUserData: d.UserData}
	if d.Checksum != "" {
		typ, sum, ok := strings.Cut(d.Checksum, ":")
		if !ok || typ == "" || sum == "" {
			return s, fmt.Errorf("checksum %s: use TYPE:HEX, e.g. sha256:9f86d0…", boot.Quote(d.Checksum))
		}
		s.ImageCheckSumType, s.ImageCheckSum = typ, sum
	}
	return s, s.Validate()
}

func (u *UI) deployForm(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	m, err := u.st.Machine(r.Context(), name)
	if err != nil {
		u.fail(w, r, http.StatusNotFound, err)
		return
	}
	p := u.base(r, "Deploy to "+name)
	p.Deploy = &deployData{Machine: name, ImageType: "qcow2", EFIBootloaderPath: m.EFIBootloaderPath, Hostname: name}
	u.render(w, http.StatusOK, "deploy.html", p)
}

// deploy checks the form, shows a confirmation page with what will
// happen, and creates the task once confirmed.
func (u *UI) deploy(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d := deployFrom(r, name)
	p := u.base(r, "Deploy to "+name)
	spec, err := d.spec()
	if err != nil {
		p.Deploy, p.Error = &d, u.cfg.ErrorText(err)
		u.render(w, http.StatusBadRequest, "deploy.html", p)
		return
	}
	if r.PostFormValue("confirmed") != "yes" {
		p.Confirm = &confirmData{
			Question: fmt.Sprintf("Install %s on %s?", d.ImageURL, name),
			Detail:   fmt.Sprintf("Everything on the machine's disk is overwritten at its next network boot (%s image%s).", strings.ToLower(spec.ImageType), checksumNote(spec)),
			Action:   "/ui/machines/" + pathEscape(name) + "/deploy", Button: "Deploy", Danger: true, Back: "/ui/machines/" + pathEscape(name) + "/deploy",
			Fields: map[string]string{"imageURL": d.ImageURL, "imageType": d.ImageType, "checksum": d.Checksum, "efiBootloaderPath": d.EFIBootloaderPath,
				"hostname": d.Hostname, "sshKey": d.SSHKey, "userData": d.UserData, "confirmed": "yes"},
		}
		u.render(w, http.StatusOK, "confirm.html", p)
		return
	}
	t, err := u.lc.Create(r.Context(), name, spec, Function)
	if err != nil {
		p.Deploy, p.Error = &d, u.cfg.ErrorText(err)
		u.render(w, http.StatusConflict, "deploy.html", p)
		return
	}
	u.log.Info("web: task created", "task", t.ID, "machine", name, "who", sessionFrom(r.Context()).who)
	http.Redirect(w, r, "/ui/machines/"+pathEscape(name)+"?done="+fmt.Sprintf("Task+%d+created:+it+installs+at+the+next+network+boot.", t.ID), http.StatusSeeOther)
}

func checksumNote(s boot.InstallSpec) string {
	if s.ImageCheckSum == "" {
		return ", no checksum"
	}
	return ", " + s.ImageCheckSumType + " checked"
}
