package engine

// Labels swarmcass puts on everything it creates. Later runs find things by
// these labels, never by a state file of their own.
const (
	// LabelCluster names the Cassandra cluster a thing belongs to.
	LabelCluster = "swarmcass.cluster"
	// LabelRole says what a thing is: see the Role constants.
	LabelRole = "swarmcass.role"
	// LabelNode names the Cassandra node (cass1, cass2, ...) of a service,
	// its containers and its volume.
	LabelNode = "swarmcass.node"
	// LabelLab names the lab a machine, volume or network belongs to.
	LabelLab = "swarmcass.lab"
	// LabelBuild is, on an image swarmcass built, a hash of all its build
	// depended on (context, arguments, base images): a later run with the
	// same hash has nothing to build.
	LabelBuild = "swarmcass.build"
	// LabelMachine names the lab machine (infra, swarm-0, ...).
	LabelMachine = "swarmcass.machine"
	// LabelCAFingerprint is on a cluster's TLS secrets: the SHA-256 of the
	// CA certificate they belong to (a secret's data cannot be read back).
	LabelCAFingerprint = "swarmcass.tls.ca-sha256"
	// LabelPulled names an image swarmcass pulled onto the engine for the
	// thing it labels (it was not there): on an infra container its image,
	// on a built Cassandra image the base its build pulled. down --purge
	// removes such an image with the thing, unless something else uses it.
	LabelPulled = "swarmcass.pulled"
)

// Values of LabelRole.
const (
	RoleConsul    = "consul"
	RoleRegistry  = "registry"
	RoleCassandra = "cassandra"
	RoleNetwork   = "network"
	RoleMachine   = "machine"
	// RoleSwarm: a swarm swarmcass initialised (on the swarm's spec, not
	// on any cluster's: several clusters may share it). down --purge may
	// end only such a swarm.
	RoleSwarm = "swarm"
	// RoleProbe: a short-lived container of the overlay check (bootstrap
	// removes it before the step ends).
	RoleProbe = "probe"
)
