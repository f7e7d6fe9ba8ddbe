//! plugin_demo: the demonstration plugin; logs each stage it is called for.
//!
//! Mirrors plugin_demo.c: stages DETERMINE_TARGET and PRE_PROXY; key
//! `plugin_demo_string` (read, shown at DEBUG level); INFO lines
//! `plugin_demo is initialized`, `plugin_demo: processing - stage <n>` (n is
//! the stage's number, 32 or 64) and `plugin_demo ends here`.

use spx::{Host, Msg, Plugin, Stage, Verdict};
use std::ffi::CStr;

pub struct Demo;

impl Plugin for Demo {
    const NAME: &'static CStr = c"plugin_demo";
    const DESCRIPTION: &'static CStr = c"Demonstration plugin: logs every stage it is called for";
    const STAGES: u32 = Stage::DetermineTarget.bit() | Stage::PreProxy.bit();

    fn init(host: &Host) -> Result<Self, String> {
        if let Some(string) = host.plugin_config("string") {
            host.debug(&format!("plugin_demo_string = {string}"));
        }
        host.info("plugin_demo is initialized");
        Ok(Demo)
    }

    fn process(&mut self, host: &Host, stage: Stage, _msg: Option<&mut Msg<'_>>) -> Verdict {
        host.info(&format!("plugin_demo: processing - stage {}", stage.bit()));
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        host.info("plugin_demo ends here");
    }
}

spx::declare_plugin!(Demo);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    #[test]
    fn logs_init_each_stage_and_the_end() {
        let mut plugin =
            Harness::<Demo>::init(&[("plugin_demo_string", "This_is_a_string")]).unwrap();
        assert_eq!(
            plugin.logs(),
            [
                "DEBUG plugin_demo_string = This_is_a_string",
                "INFO plugin_demo is initialized"
            ]
        );
        let mut msg = FakeMsg::parse("OPTIONS sip:a@b SIP/2.0\r\n\r\n");
        for stage in [Stage::DetermineTarget, Stage::PreProxy, Stage::PostProxy] {
            assert_eq!(plugin.process(stage, Some(&mut msg)), Verdict::Continue);
        }
        assert_eq!(
            plugin.logs(),
            [
                "INFO plugin_demo: processing - stage 32",
                "INFO plugin_demo: processing - stage 64"
            ]
        );
        assert_eq!(plugin.fini(), ["INFO plugin_demo ends here"]);
    }
}
