package http

import (
	"context"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/power"
)

const rescueKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host"

// TestRescueFlow: OVH's DELETE bringYourOwnImage puts an installed machine
// in rescue mode and network-boots it; its boot gets the rescue script with
// a per-boot token; the rescue system fetches the key of the install and
// reports its address, which the APIs show; choosing the disk again ends
// rescue and its token.
func TestRescueFlow(t *testing.T) {
	ctx := context.Background()
	bmc := &fakeBMC{state: power.On}
	e := newEnv(t, withPower(t, bmc))
	pc := e.powerCtl()
	const mac = "52:54:00:00:00:01"
	body := `{"operatingSystem":"byoi_64","customizations":{"imageURL":"https://img.example/a.raw","imageType":"raw","sshKey":"` + rescueKey + `"}}`
	tok := bootInstaller(t, e, "web-1", mac, body)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local"}`, 204)
	e.api("PUT", "/api/v1/machines/web-1/power", `{"driver":"qmp","address":"unix:/run/vm.qmp"}`, 200)
	pc.Wait()
	bmc.mu.Lock()
	bmc.actions = nil
	bmc.mu.Unlock()

	if ids := decode[[]int64](t, e.api("GET", "/1.0/dedicated/server/web-1/boot", "", 200)); len(ids) != 2 {
		t.Errorf("GET boot = %v, want the disk and rescue ids", ids)
	}
	if b := decode[ovhBoot](t, e.api("GET", "/1.0/dedicated/server/web-1/boot/2", "", 200)); b.BootType != "rescue" {
		t.Errorf("GET boot/2 = %+v, want the rescue boot", b)
	}
	e.api("DELETE", "/1.0/dedicated/server/web-1/bringYourOwnImage", "", 200)
	pc.Wait()
	if got := bmc.did(); got != "pxe,cycle" {
		t.Errorf("BMC after DELETE bringYourOwnImage = %q, want pxe,cycle", got)
	}
	script := e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String()
	for _, want := range []string{"byoi.mode=rescue", "tools.img", "rescue.img", "initrd.img"} {
		if !strings.Contains(script, want) {
			t.Errorf("rescue script lacks %q:\n%s", want, script)
		}
	}
	rtok := scriptToken(t, script)
	got := decode[agentapi.Rescue](t, agentDo(t, e, rtok, agentapi.PathRescue, "", 200))
	if got.Machine != "web-1" || len(got.SSHKeys) != 1 || got.SSHKeys[0] != rescueKey {
		t.Errorf("rescue config = %+v, want the install's SSH key", got)
	}
	// The installer API does not take a rescue token, nor the other way.
	agentDo(t, e, rtok, agentapi.PathTask, "", 401)
	agentDo(t, e, tok, agentapi.PathRescue, "", 401)
	agentDo(t, e, rtok, agentapi.PathRescueReady, `{"addresses":["198.51.100.10"],"hostKeys":["ED25519 SHA256:abc"],"hostPublicKeys":["ssh-ed25519 AAAA"]}`, 204)
	srv := decode[ovhServer](t, e.api("GET", "/1.0/dedicated/server/web-1", "", 200))
	if srv.BootID == nil || *srv.BootID != bootIDRescue || srv.Rescue == nil || srv.Rescue.Addresses[0] != "198.51.100.10" ||
		len(srv.Rescue.HostPublicKeys) != 1 || srv.Rescue.HostPublicKeys[0] != "ssh-ed25519 AAAA" {
		t.Errorf("OVH machine in rescue = bootId %v rescue %+v, want 2, the address and the host's public key", srv.BootID, srv.Rescue)
	}
	mv := decode[machineView](t, e.api("GET", "/api/v1/machines/web-1", "", 200))
	if mv.Rescue == nil || mv.Rescue.TokenHash != "" || mv.Rescue.HostKeys[0] != "ED25519 SHA256:abc" {
		t.Errorf("machine view rescue = %+v, want the host key and no token hash", mv.Rescue)
	}
	// A second rescue boot replaces the token.
	rtok2 := scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String())
	agentDo(t, e, rtok, agentapi.PathRescue, "", 401)
	agentDo(t, e, rtok2, agentapi.PathRescue, "", 200)

	e.api("PUT", "/api/v1/machines/web-1/boot", `{"mode":"disk","reboot":true}`, 200)
	pc.Wait()
	agentDo(t, e, rtok2, agentapi.PathRescue, "", 401)
	if s := e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String(); !strings.Contains(s, "sanboot") {
		t.Errorf("script after boot disk:\n%s\nwant a local boot", s)
	}
	// OVH's PUT with bootId 2 and a rescue key, then the rescue system gets it.
	e.api("PUT", "/1.0/dedicated/server/web-1", `{"bootId":2,"rescueSshKey":"`+rescueKey[:len(rescueKey)-7]+`other@host"}`, 200)
	rtok3 := scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String())
	if got := decode[agentapi.Rescue](t, agentDo(t, e, rtok3, agentapi.PathRescue, "", 200)); !strings.HasSuffix(got.SSHKeys[0], "other@host") {
		t.Errorf("rescue keys after PUT rescueSshKey = %v", got.SSHKeys)
	}
	e.api("PUT", "/1.0/dedicated/server/web-1", `{"bootId":7}`, 400)
	e.api("PUT", "/api/v1/machines/web-1/boot", `{"mode":"network"}`, 400)
	e.api("PUT", "/api/v1/machines/web-1/boot", `{"mode":"rescue","sshKey":"not a key"}`, 400)
	if m, _ := e.st.Machine(ctx, "web-1"); m.BootMode != boot.BootModeRescue {
		t.Errorf("boot mode after refused changes = %q, want rescue", m.BootMode)
	}
}
