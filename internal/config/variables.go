package config

// secretVars are the variables that may instead be read from the file named by NAME_FILE.
func secretVars() []string {
	return []string{EnvDatabaseURL, EnvDatabaseURLAlt, EnvAK, EnvSK, EnvSecurityToken, EnvUsername, EnvPassword, EnvHTTPToken}
}

// Variables lists every environment variable the configuration reads, *_FILE
// forms included (for checks of deployment files such as docker-compose.yml).
// Variables a configuration file references ({env: NAME}) are the user's own
// and not listed.
func Variables() []string {
	vars := []string{
		EnvDatabaseURL, EnvDatabaseURLAlt, EnvEndpoint, EnvRegion, EnvProjectID, EnvAK, EnvSK, EnvSecurityToken,
		EnvUsername, EnvPassword, EnvDomainName, EnvIAMEndpoint, EnvSource, EnvSchedule, EnvConfigFile, EnvPerPage,
		EnvMaxPerPage, EnvMaxWalks, EnvMaxDeleteShare, EnvMaxDeleteMin, EnvRequestTimeout, EnvMaxAttempts,
		EnvLogLevel, EnvLogFormat, EnvSeenRefresh, EnvHTTPAddr, EnvConcurrency, EnvShutdownGrace, EnvRunAtStart,
		EnvTimezone, EnvRateLimit, EnvMaxRateLimit, EnvRunTimeout, EnvPageConcurrency, EnvDeleteCheckBudget, EnvDeleteCheckTime, EnvHeadSchedule, EnvAllowInsecureHTTP, EnvHTTPToken,
	}
	for _, v := range secretVars() {
		vars = append(vars, v+fileSuffix)
	}
	return vars
}
