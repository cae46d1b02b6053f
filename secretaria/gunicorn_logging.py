"""gunicorn's access log without secrets: webhook URL tokens and phone numbers masked."""

from gunicorn.glogging import Logger

from secretaria.logging import mask_sensitive


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            if key in atoms and isinstance(atoms[key], str):
                atoms[key] = mask_sensitive(atoms[key])
        return atoms
