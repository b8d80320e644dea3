package kubernetes

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/warden-dev/warden/deploy/internal/deploytest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// set is the decoded manifests, with lookups.
type set []object

func load(t *testing.T) set {
	t.Helper()
	objs, err := loadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// one returns the only object of a kind, failing the test unless there is
// exactly one.
func one[T any](t *testing.T, s set) T {
	t.Helper()
	var found []T
	for _, o := range s {
		if v, ok := o.obj.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}

// pod is a pod template of a workload.
type pod struct {
	owner  string // kind/name
	labels map[string]string
	spec   corev1.PodSpec
}

func (s set) pods() []pod {
	var out []pod
	for _, o := range s {
		switch w := o.obj.(type) {
		case *appsv1.StatefulSet:
			out = append(out, pod{"StatefulSet/" + w.Name, w.Spec.Template.Labels, w.Spec.Template.Spec})
		case *appsv1.DaemonSet:
			out = append(out, pod{"DaemonSet/" + w.Name, w.Spec.Template.Labels, w.Spec.Template.Spec})
		case *appsv1.Deployment:
			out = append(out, pod{"Deployment/" + w.Name, w.Spec.Template.Labels, w.Spec.Template.Spec})
		}
	}
	return out
}

// containers are a pod's init and app containers.
func (p pod) containers() []corev1.Container {
	return append(slices.Clone(p.spec.InitContainers), p.spec.Containers...)
}

// agent returns the pod's warden agent: the container that runs the
// image's entrypoint (`warden agent`), not a command of its own.
func (p pod) agent(t *testing.T) corev1.Container {
	t.Helper()
	for _, c := range p.containers() {
		if strings.Contains(c.Image, "/warden:") && c.Command == nil {
			return c
		}
	}
	t.Fatalf("%s runs no warden agent", p.owner)
	return corev1.Container{}
}

func (p pod) hasAgent() bool {
	for _, c := range p.containers() {
		if strings.Contains(c.Image, "/warden:") && c.Command == nil {
			return true
		}
	}
	return false
}

// flag returns the value of --name in args ("" if absent; "true" for a
// flag without a value).
func flag(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				return args[i+1]
			}
			return "true"
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// setting is a flag's value, else its WARDEN_* variable's.
func setting(c corev1.Container, name string) string {
	if v := flag(c.Args, name); v != "" {
		return v
	}
	env := "WARDEN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	for _, e := range c.Env {
		if e.Name == env {
			return e.Value
		}
	}
	return ""
}

// Where the image puts the agent's socket and data when nothing says
// otherwise (deploy/image).
const (
	imageSocket  = "/run/warden/warden.sock"
	imageDataDir = "/var/lib/warden"
)

func TestManifestsDecodeStrictly(t *testing.T) {
	s := load(t)
	got := map[string]int{}
	for _, o := range s {
		got[o.kind]++
		if ns := o.obj.(metav1.Object).GetNamespace(); o.kind != "v1/Namespace" && ns != "warden" {
			t.Errorf("%s %s: namespace %q, want warden (the --join addresses name it)", o.kind, o.name, ns)
		}
	}
	want := map[string]int{"v1/Namespace": 1, "v1/ServiceAccount": 1, "v1/Service": 1, "apps/v1/StatefulSet": 1,
		"apps/v1/DaemonSet": 1, "apps/v1/Deployment": 2, "policy/v1/PodDisruptionBudget": 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%d %s, want %d", got[k], k, n)
		}
	}
}

// TestDecodeCatchesMistakes makes sure the strict decoding is not blind:
// each mistake, made in a copy of server.yaml, must be refused.
func TestDecodeCatchesMistakes(t *testing.T) {
	good, err := os.ReadFile("server.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode("server.yaml", good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:", "unknown field"},
		{"field at the wrong level", "      serviceAccountName: warden", "      serviceAccount_Name: warden", "unknown field"},
		{"wrong type", "replicas: 3", "replicas: three", "replicas"},
		{"bad quantity", "storage: 1Gi", "storage: 1 gigabyte", "quantities must match"},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "unknown kind"},
		{"old API version", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", "unknown kind"},
		{"duplicate key", "      serviceAccountName: warden\n", "      serviceAccountName: warden\n      serviceAccountName: other\n", "already set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.from, tc.to, 1)
			if bad == string(good) {
				t.Fatalf("%q is not in server.yaml", tc.from)
			}
			_, err := decode("server.yaml", []byte(bad))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decode = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestServers checks the StatefulSet against its Service and its own
// arguments.
func TestServers(t *testing.T) {
	s := load(t)
	sts := one[*appsv1.StatefulSet](t, s)
	svc := one[*corev1.Service](t, s)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Fatalf("replicas %v, want 3", sts.Spec.Replicas)
	}
	c := pod{"StatefulSet/" + sts.Name, sts.Spec.Template.Labels, sts.Spec.Template.Spec}.agent(t)
	if flag(c.Args, "server") != "true" || flag(c.Args, "bootstrap-expect") != "3" {
		t.Errorf("args %q: want --server --bootstrap-expect 3 (the replicas)", c.Args)
	}
	if sts.Spec.ServiceName != svc.Name {
		t.Errorf("serviceName %q, but the Service is %q", sts.Spec.ServiceName, svc.Name)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("the Service must be headless and publish servers before they are ready (clusterIP %q, publishNotReadyAddresses %v)",
			svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("the Service's selector %v does not select the servers (%v)", svc.Spec.Selector, sts.Spec.Template.Labels)
	}
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Errorf("the StatefulSet's selector does not select its own pods (%v)", err)
	}
	// Every server joins the first one by its name under the Service.
	wantJoin := sts.Name + "-0." + svc.Name + "." + svc.Namespace + ".svc.cluster.local"
	if j := flag(c.Args, "join"); j != wantJoin {
		t.Errorf("--join %q, want %q", j, wantJoin)
	}
	for _, p := range []struct {
		name  string
		port  int32
		proto corev1.Protocol
	}{
		{"rpc", 7300, corev1.ProtocolTCP}, {"serf-tcp", 7301, corev1.ProtocolTCP}, {"serf-udp", 7301, corev1.ProtocolUDP}, {"http", 7302, corev1.ProtocolTCP},
	} {
		if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
			return sp.Name == p.name && sp.Port == p.port && sp.Protocol == p.proto
		}) {
			t.Errorf("the Service lacks port %s %d/%s", p.name, p.port, p.proto)
		}
	}
	// The data dir is on the claim template's volume.
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("%d volumeClaimTemplates, want 1", len(sts.Spec.VolumeClaimTemplates))
	}
	claim := sts.Spec.VolumeClaimTemplates[0].Name
	dataDir := setting(c, "data-dir")
	if dataDir == "" {
		dataDir = imageDataDir
	}
	if m := mountOf(c, dataDir); m == nil || m.Name != claim {
		t.Errorf("the data dir %s is not on the volume claim %q", dataDir, claim)
	}
}

// TestPDBSelectsServers checks that the PodDisruptionBudget covers the
// StatefulSet's pods, and only them, one down at a time.
func TestPDBSelectsServers(t *testing.T) {
	s := load(t)
	pdb := one[*policyv1.PodDisruptionBudget](t, s)
	sts := one[*appsv1.StatefulSet](t, s)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("maxUnavailable %v, minAvailable %v: want maxUnavailable 1 alone", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %v: %v", pdb.Spec.Selector, err)
	}
	for _, p := range s.pods() {
		if got, want := sel.Matches(labels.Set(p.labels)), p.owner == "StatefulSet/"+sts.Name; got != want {
			t.Errorf("the PodDisruptionBudget selects %s: %v, want %v", p.owner, got, want)
		}
	}
}

// TestReplicasJoinTheServers checks every agent that is not a server.
func TestReplicasJoinTheServers(t *testing.T) {
	s := load(t)
	svc := one[*corev1.Service](t, s)
	want := svc.Name + "." + svc.Namespace + ".svc.cluster.local"
	n := 0
	for _, p := range s.pods() {
		if !p.hasAgent() || strings.HasPrefix(p.owner, "StatefulSet/") {
			continue
		}
		n++
		c := p.agent(t)
		if flag(c.Args, "server") != "" || flag(c.Args, "bootstrap-expect") != "" {
			t.Errorf("%s: a replica with server flags %q", p.owner, c.Args)
		}
		if j := flag(c.Args, "join"); j != want {
			t.Errorf("%s: --join %q, want the servers' Service %q", p.owner, j, want)
		}
	}
	if n != 2 {
		t.Errorf("%d replica workloads, want 2 (the DaemonSet and the sidecar)", n)
	}
}

// TestAgentProbesAndSecurity checks each agent's probes and HTTP bind,
// and every container's security context.
func TestAgentProbesAndSecurity(t *testing.T) {
	s := load(t)
	sa := one[*corev1.ServiceAccount](t, s)
	image := ""
	for _, p := range s.pods() {
		if p.hasAgent() {
			c := p.agent(t)
			if image == "" {
				image = c.Image
			} else if c.Image != image {
				t.Errorf("%s: image %s, the others use %s", p.owner, c.Image, image)
			}
			checkProbe(t, p.owner, "liveness", c.LivenessProbe, "/healthz", c)
			checkProbe(t, p.owner, "readiness", c.ReadinessProbe, "/readyz", c)
			if b := setting(c, "http-bind"); b == "" || b == "127.0.0.1" {
				t.Errorf("%s: HTTP bound to %q: the kubelet's probes cannot reach it", p.owner, b)
			}
			if p.spec.ServiceAccountName != sa.Name {
				t.Errorf("%s: service account %q, want %q", p.owner, p.spec.ServiceAccountName, sa.Name)
			}
		}
		if p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it does not need", p.owner)
		}
		psc := p.spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: the pod must run as a non-root user (runAsNonRoot, runAsUser)", p.owner)
		}
		for _, c := range p.containers() {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s, container %s: want readOnlyRootFilesystem, no privilege escalation, capabilities dropped", p.owner, c.Name)
				continue
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				// The one root step: chown of the node's socket directory.
				if c.Name != "socket-dir" || !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"CHOWN"}) {
					t.Errorf("%s, container %s runs as root", p.owner, c.Name)
				}
			}
		}
	}
}

func checkProbe(t *testing.T, owner, what string, pr *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if pr == nil || pr.HTTPGet == nil {
		t.Errorf("%s: no HTTP %s probe", owner, what)
		return
	}
	if pr.HTTPGet.Path != path {
		t.Errorf("%s: %s probe on %s, want %s", owner, what, pr.HTTPGet.Path, path)
	}
	port := pr.HTTPGet.Port.IntValue()
	if name := pr.HTTPGet.Port.String(); port == 0 {
		i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name })
		if i < 0 {
			t.Errorf("%s: %s probe on port %q, which the container does not name", owner, what, name)
			return
		}
		port = int(c.Ports[i].ContainerPort)
	}
	want := "7302"
	if v := setting(c, "http-port"); v != "" {
		want = v
	}
	if got := strconv.Itoa(port); got != want {
		t.Errorf("%s: %s probe on port %s, the agent's HTTP port is %s", owner, what, got, want)
	}
}

// mountOf returns the container's volume mount that holds p.
func mountOf(c corev1.Container, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if (p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")) &&
			(best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	return best
}

func volume(p pod, name string) *corev1.Volume {
	for i := range p.spec.Volumes {
		if p.spec.Volumes[i].Name == name {
			return &p.spec.Volumes[i]
		}
	}
	return nil
}

// TestSockets checks where each agent listens and how its apps reach it:
// on a writable volume, in a directory the agent accepts, and at the path
// the apps are given.
func TestSockets(t *testing.T) {
	s := load(t)
	nodeSocket := "" // the node's path of the DaemonSet's socket
	for _, p := range s.pods() {
		if !p.hasAgent() {
			continue
		}
		c := p.agent(t)
		sock := setting(c, "socket")
		if sock == "" {
			sock = imageSocket
		}
		m := mountOf(c, sock)
		if m == nil || m.ReadOnly {
			t.Errorf("%s: the socket %s is on no writable volume (the root filesystem is read-only)", p.owner, sock)
			continue
		}
		v := volume(p, m.Name)
		switch {
		case v == nil:
			t.Errorf("%s: no volume %q", p.owner, m.Name)
		case v.EmptyDir != nil && path.Dir(sock) == path.Clean(m.MountPath):
			// Every user may write an emptyDir: the agent refuses it as the
			// socket's directory.
			t.Errorf("%s: the socket %s is directly in an emptyDir", p.owner, sock)
		case v.HostPath != nil:
			if path.Dir(sock) != path.Clean(m.MountPath) {
				t.Errorf("%s: the socket %s is not directly in the hostPath mount %s", p.owner, sock, m.MountPath)
			}
			nodeSocket = path.Join(v.HostPath.Path, path.Base(sock))
		}
		// The pod's other (not init) containers are its apps: they share
		// the volume and are told the socket's path.
		for _, app := range p.spec.Containers {
			if app.Name == c.Name {
				continue
			}
			if am := mountOf(app, sock); am == nil || am.Name != m.Name || am.MountPath != m.MountPath {
				t.Errorf("%s: container %s does not mount the agent's socket volume at %s", p.owner, app.Name, m.MountPath)
			}
			if got := setting(app, "socket"); got != sock {
				t.Errorf("%s: container %s is told WARDEN_SOCKET=%q, the agent listens on %s", p.owner, app.Name, got, sock)
			}
		}
	}
	if nodeSocket == "" {
		t.Fatal("no agent puts its socket on the node (a hostPath volume)")
	}
	// The apps that use the node's agent.
	n := 0
	for _, p := range s.pods() {
		if p.hasAgent() {
			continue
		}
		for _, app := range p.containers() {
			sock := setting(app, "socket")
			m := mountOf(app, sock)
			if m == nil {
				t.Errorf("%s, container %s: WARDEN_SOCKET=%q is on no volume", p.owner, app.Name, sock)
				continue
			}
			v := volume(p, m.Name)
			if v == nil || v.HostPath == nil || path.Join(v.HostPath.Path, strings.TrimPrefix(sock, m.MountPath)) != nodeSocket {
				t.Errorf("%s, container %s: WARDEN_SOCKET=%q does not lead to the node's %s", p.owner, app.Name, sock, nodeSocket)
			}
			if setting(app, "socket-owner") == "" {
				t.Errorf("%s, container %s: no WARDEN_SOCKET_OWNER: it would refuse the agent's socket", p.owner, app.Name)
			}
			if sc := p.spec.SecurityContext; sc == nil || !slices.Contains(sc.SupplementalGroups, 10001) {
				t.Errorf("%s: not in the group 10001 that may open the socket", p.owner)
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no example app uses the node's agent")
	}
}

// TestAgentFlagsExist checks every flag and WARDEN_* variable the
// manifests give an agent against `warden agent -h`.
func TestAgentFlagsExist(t *testing.T) {
	help, _ := exec.Command(deploytest.Binary(t), "agent", "-h").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z-]*)`).FindAllSubmatch(help, -1) {
		flags[string(m[1])] = true
	}
	vars := map[string]bool{"WARDEN_SOCKET_OWNER": true} // the clients'
	for _, v := range regexp.MustCompile(`WARDEN_[A-Z_]+`).FindAll(help, -1) {
		vars[string(v)] = true
	}
	if !flags["join"] || !vars["WARDEN_JOIN"] {
		t.Fatalf("cannot read the flags from warden agent -h:\n%s", help)
	}
	for _, p := range load(t).pods() {
		for _, c := range p.containers() {
			if !strings.Contains(c.Image, "/warden:") {
				continue
			}
			if c.Command == nil {
				for _, a := range c.Args {
					name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
					if strings.HasPrefix(a, "--") && !flags[name] {
						t.Errorf("%s, container %s: the agent has no flag %s", p.owner, c.Name, a)
					}
				}
			}
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "WARDEN_") && !vars[e.Name] {
					t.Errorf("%s, container %s: warden reads no %s", p.owner, c.Name, e.Name)
				}
			}
		}
	}
}
