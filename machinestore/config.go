package machinestore

// ConfigVersion is the config.json format version docker-machine 0.16 writes.
const ConfigVersion = 3

// DockerPort is where docker-machine's engines listen, always with TLS.
const DockerPort = 2376

// Config is a machine's config.json as docker-machine writes it
// (libmachine/host.Host, ConfigVersion 3). Driver keeps only the fields every
// driver shares (drivers.BaseDriver) and the "none" driver's URL: a config
// read from another driver loses its own fields, so Save is only for machines
// swarmcass owns.
type Config struct {
	ConfigVersion int
	Driver        Driver
	DriverName    string
	HostOptions   HostOptions
	Name          string
}

// Driver is the driver-independent part of config.json's Driver.
type Driver struct {
	IPAddress      string
	MachineName    string
	SSHUser        string
	SSHPort        int
	SSHKeyPath     string
	StorePath      string // the store's root, not the machine's directory
	SwarmMaster    bool
	SwarmHost      string
	SwarmDiscovery string
	// URL is the engine's address, kept by docker-machine's "none" driver
	// (machines made elsewhere and added to the store); swarmcass's lab
	// machines use it too.
	URL string `json:",omitempty"`
}

// HostOptions is config.json's HostOptions.
type HostOptions struct {
	Driver        string
	Memory        int
	Disk          int
	EngineOptions EngineOptions
	SwarmOptions  SwarmOptions
	AuthOptions   AuthOptions
}

// EngineOptions are the flags docker-machine gave the machine's dockerd.
type EngineOptions struct {
	ArbitraryFlags   []string
	DNS              []string `json:"Dns"`
	GraphDir         string
	Env              []string
	Ipv6             bool
	InsecureRegistry []string
	Labels           []string
	LogLevel         string
	StorageDriver    string
	SelinuxEnabled   bool
	TLSVerify        bool `json:"TlsVerify"`
	RegistryMirror   []string
	InstallURL       string
}

// SwarmOptions are docker-machine's (classic, pre-swarm-mode) Swarm settings;
// swarmcass only keeps them so that the file stays complete.
type SwarmOptions struct {
	IsSwarm            bool
	Address            string
	Discovery          string
	Agent              bool
	Master             bool
	Host               string
	Image              string
	Strategy           string
	Heartbeat          int
	Overcommit         float64
	ArbitraryFlags     []string
	ArbitraryJoinFlags []string
	Env                []string
	IsExperimental     bool
}

// AuthOptions are the certificate paths docker-machine recorded, absolute
// at the time the machine was created.
type AuthOptions struct {
	CertDir              string
	CaCertPath           string
	CaPrivateKeyPath     string
	CaCertRemotePath     string
	ServerCertPath       string
	ServerKeyPath        string
	ClientKeyPath        string
	ServerCertRemotePath string
	ServerKeyRemotePath  string
	ClientCertPath       string
	ServerCertSANs       []string
	StorePath            string // the machine's directory
}
