package consultest

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartStopRestart(t *testing.T) {
	a := Start(t)
	c := a.Client(t)
	reg := &api.AgentServiceRegistration{ID: "x", Name: "x", Port: 1}
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	if svcs, err := c.Agent().Services(); err != nil || svcs["x"] == nil {
		t.Fatalf("services %v, %v", svcs, err)
	}
	a.Stop()
	if a.Running() {
		t.Fatal("still running after Stop")
	}
	if _, err := c.Agent().Services(); err == nil {
		t.Fatal("the agent answered after Stop")
	}
	a.Restart()
	svcs, err := c.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if svcs["x"] != nil {
		t.Error("a -dev agent kept a registration over a restart")
	}
	a.Kill()
	a.Restart()
	if leader, err := c.Status().Leader(); err != nil || leader == "" {
		t.Errorf("no leader after a kill and restart: %q, %v", leader, err)
	}
}
