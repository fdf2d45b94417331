// Package agent is the guest side of the microVM backend: the /init of every microVM
// (cmd/ember-vmagent). It loads the guest's virtio modules, makes the read-only root image its
// root, mounts the function image and the scratch disk, and then serves the host on two
// virtio-serial ports: control requests as JSON lines (create, start, stats, quiesce, resume,
// shutdown; see ../wire) and a yamux session on which it relays every connection the runtime
// makes to its Runtime API address, and the runtime's output. The function runs in the same
// jail as on a host (package jail, inside the guest): the VM is a second wall.
//
// Around a snapshot the host quiesces the agent (the session ends; what the runtime sent and
// the host had not answered is kept), and after it, on the original and on every clone, the
// agent sets the clock from the host's, reseeds the kernel's random generator with host
// entropy, and opens a new session on which the kept bytes are sent again.
//
// It runs only in the guest and must not be imported by the server.
package agent
