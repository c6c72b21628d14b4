"""Where MRBS answers: the HTTP service, batch scoring of cohorts, and releases of the service.

`serving.http` is the BentoML service clinicians' systems call, `serving.batch` the `mrbs score`
command (one machine or Spark), `serving.release` packages a registered version with the
service. All three answer through `scoring`.
"""

__all__: list[str] = []
